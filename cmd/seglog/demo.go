package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/demo"
)

func (a *app) demoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo [DIR]",
		Short: "Play the delivery protocol against an in-process peer, step by step",
		Long: `demo builds a small log, plays the delivery protocol of docs/protocol.md
against a peer simulated in the same process (normal acknowledgements, a
lost batch, a restart, a peer restored from an old backup, a peer claiming
too much, a re-registration) and draws the log after each step.

The log is built in DIR, which must be empty or not exist, and kept there
for "seglog info", "dump" or "verify" to look at; without DIR it goes to a
temporary directory that is removed afterwards.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.json {
				return errors.New("demo: --json: the demo prints a narrated exchange, as text only")
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			} else {
				tmp, err := os.MkdirTemp("", "seglog-demo-")
				if err != nil {
					return fail(exitOpen, "demo: %v", err)
				}
				defer os.RemoveAll(tmp)
				dir = tmp + "/log"
			}
			if err := demo.Run(a.stdout, dir); err != nil {
				if errors.Is(err, demo.ErrUnusableDir) {
					return fail(exitOpen, "%v", err)
				}
				return fail(exitProblems, "%v", err)
			}
			if len(args) == 1 {
				fmt.Fprintf(a.stderr, "seglog: the demo's log is in %s\n", dir)
			}
			return nil
		},
	}
}
