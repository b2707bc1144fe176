package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
	exitOpen     = 3
	exitLocked   = 4
)

// exitError carries a command's exit status. Every error a command returns
// is one; any other error comes from the command line parser: a usage error.
type exitError struct {
	code int
	err  error // nil: nothing more to say
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// quiet is an exit status with nothing more to print.
func quiet(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app is what every command shares.
type app struct {
	ctx            context.Context
	stdout, stderr io.Writer
	json           bool
	now            func() time.Time
	// progress decides whether a progress bar is drawn on stderr: when it
	// is a terminal, unless turned off.
	progress bool
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{ctx: ctx, stdout: stdout, stderr: stderr, now: time.Now, progress: isTerminal(stderr)}
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "seglog: %s\n", message(ee.err))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "seglog: %v\nRun 'seglog help' for usage.\n", err)
	return exitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "seglog",
		Short: "Inspect, follow, verify and repair seglog logs, live or at rest",
		Long: `seglog looks inside the directory of a seglog log: its records, segments,
delivery state and health. Every command but "repair --apply", "import"
and "ship" opens the log read-only, holds no lock, and works beside a live
writer. "ship" sends a log to a server and "serve" is that server, which
keeps one inbox log per agent.

Data goes to stdout, diagnostics to stderr. --json prints JSON Lines for
streams (dump, export, verify findings) and one JSON document otherwise.

Exit status: 0 healthy, 1 problems found, 2 usage error, 3 the log cannot be
opened or read, 4 the log is locked by a writer (repair --apply).`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON instead of text")
	root.AddCommand(
		a.infoCommand(),
		a.segmentsCommand(),
		a.dumpCommand(),
		a.getCommand(),
		a.verifyCommand(),
		a.repairCommand(),
		a.statsCommand(),
		a.dictionaryCommand(),
		a.benchCommand(),
		a.importCommand(),
		a.exportCommand(),
		a.versionCommand(),
		a.demoCommand(),
		a.shipCommand(),
		a.serveCommand(),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			requireSubcommand(c)
		}
	}
	return root
}

// requireSubcommand makes a command that only groups others fail as a
// usage error when run without one of them or with an unknown one, where
// cobra would print its help and succeed: a mistyped "import tidwal" in a
// script must not pass for a done import.
func requireSubcommand(c *cobra.Command) {
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if len(args) == 0 {
			return fmt.Errorf("%s: name one of: %s", cmd.Name(), strings.Join(names, ", "))
		}
		return fmt.Errorf("%s: unknown command %q (want one of: %s)", cmd.Name(), args[0], strings.Join(names, ", "))
	}
}

// message is the text of err without the "seglog: " that the library's
// errors start with: the command prints its own prefix once.
func message(err error) string {
	msg := strings.TrimPrefix(err.Error(), "seglog: ")
	return strings.ReplaceAll(msg, ": seglog: ", ": ")
}
