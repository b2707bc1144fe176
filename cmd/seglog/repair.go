package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

func (a *app) repairCommand() *cobra.Command {
	var o inspect.RepairOptions
	cmd := &cobra.Command{
		Use:   "repair DIR",
		Short: "Plan, and with --apply carry out, the repair of a damaged log",
		Long: `repair verifies the log in DIR and prints a plan to mend it; it changes
nothing unless --apply is given. The plan may: cut a torn tail, remove a
segment whose header was never written, rebuild missing or wrong indexes,
remove segments the checkpoint released, stray index files and stale
temporary files, and rewrite an invalid checkpoint slot. None of these
loses a record that could be read.

Damage in the middle of the log (a frame that fails its checksum, a
missing segment) is only mended with --cut-corrupt: the log is cut at the
first damage and every later record is dropped; the next appends reuse the
offsets from the cut. A cut before the delivery cursor also releases the
records kept for a resend, and moves the sequence forward so that the peer
asks for a resynchronisation. A checkpoint neither of whose slots is valid
is only replaced with --reset-checkpoint. The plan lists exactly which
offsets are lost: those unreadable already, and those dropped by the cut.

A file that cannot be read (no permission, a directory in a segment's
place, a failing disk) is an I/O problem, not damage: while there is one,
nothing is planned, since a plan made without its contents could rewrite
or cut what it holds.

--apply takes the writer's lock (exit status 4 while a writer holds it),
verifies and plans again under it, copies every file it changes or removes
into DIR/repair-<UTC time>/ first, applies the plan and verifies the
result. Exit status 0 when the log is (or would be, for a plan with
nothing left unresolved) healthy, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.repair(args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Apply, "apply", false, "carry the plan out (default: only print it)")
	f.BoolVar(&o.CutCorrupt, "cut-corrupt", false, "cut the log at mid-log damage, dropping every later record")
	f.BoolVar(&o.ResetCheckpoint, "reset-checkpoint", false, "replace an unreadable checkpoint with a fresh delivery state")
	return cmd
}

type jsonRepair struct {
	Dir        string            `json:"dir"`
	Applied    bool              `json:"applied"`
	BackupDir  string            `json:"backup_dir,omitempty"`
	Actions    []inspect.Action  `json:"actions"`
	Unreadable []inspect.Range   `json:"unreadable"`
	Dropped    []inspect.Range   `json:"dropped"`
	NextOffset uint64            `json:"next_offset"`
	Unresolved []inspect.Finding `json:"unresolved"`
	// The held store's rewrite: records taken out for lying past the end
	// of the log, stretches skipped as damaged.
	HeldPastEnd []seglog.HeldRecord `json:"held_past_end,omitempty"`
	HeldLost    []seglog.HeldLost   `json:"held_lost,omitempty"`
	// Dictionary files frames of the log need restored.
	RestoreDicts []string           `json:"restore_dictionaries,omitempty"`
	After        *jsonVerifySummary `json:"after,omitempty"`
	Remaining    []inspect.Finding  `json:"remaining,omitempty"`
}

func (a *app) repair(dir string, o inspect.RepairOptions) error {
	o.Now = a.now
	res, err := inspect.Repair(a.ctx, dir, o)
	if errors.Is(err, inspect.ErrLocked) {
		return fail(exitLocked, "repair: %v: a writer has the log open; close it first", err)
	}
	if err != nil && res == nil {
		return openErr(dir, err)
	}
	p := res.Plan
	j := jsonRepair{Dir: dir, Applied: res.Applied, BackupDir: res.BackupDir, Actions: p.Actions,
		Unreadable: p.Unreadable, Dropped: p.Dropped, NextOffset: p.Next, Unresolved: p.Unresolved,
		HeldPastEnd: p.HeldPastEnd, HeldLost: p.HeldLost, RestoreDicts: p.RestoreDicts}
	if j.Actions == nil {
		j.Actions = []inspect.Action{}
	}
	if j.Unreadable == nil {
		j.Unreadable = []inspect.Range{}
	}
	if j.Dropped == nil {
		j.Dropped = []inspect.Range{}
	}
	if j.Unresolved == nil {
		j.Unresolved = []inspect.Finding{}
	}
	var remaining []inspect.Finding
	if r := res.After; r != nil {
		for _, f := range r.Findings {
			if f.Severity > inspect.Info {
				remaining = append(remaining, f)
			}
		}
		j.After = &jsonVerifySummary{Kind: "summary", Healthy: r.Healthy(), Segments: len(r.Segments), Frames: r.Frames,
			Records: r.Records, Bytes: r.TotalBytes, FirstOffset: r.First, NextOffset: r.Next,
			Errors: r.Counts.Errors, Warnings: r.Counts.Warnings, Infos: r.Counts.Infos, WriterActive: r.Live,
			ElapsedSeconds: r.Elapsed.Seconds()}
		j.Remaining = remaining
	}
	if a.json {
		if werr := writeJSON(a.stdout, j); werr != nil {
			return werr
		}
	} else {
		a.printRepair(dir, res, remaining)
	}
	if err != nil {
		return fail(exitProblems, "repair stopped: %v (originals are in %s)", err, res.BackupDir)
	}
	if !o.Apply && res.Report.Live && len(p.Actions) > 0 {
		fmt.Fprintf(a.stderr, "seglog: a writer holds the lock: repair --apply refuses until it closes the log\n")
	}
	switch {
	case len(p.Unresolved) > 0, res.After != nil && !res.After.Healthy():
		return quiet(exitProblems)
	case !o.Apply && len(p.Actions) > 0:
		return quiet(exitProblems)
	}
	return nil
}

func (a *app) printRepair(dir string, res *inspect.RepairResult, remaining []inspect.Finding) {
	w := a.stdout
	p := res.Plan
	unreadable := len(res.Report.IOProblems()) > 0
	switch {
	case unreadable:
		fmt.Fprintf(w, "nothing in %s is repaired while a file in it cannot be read: fix the access and run repair again\n", dir)
	case len(p.Actions) == 0 && len(p.Unresolved) > 0:
		fmt.Fprintf(w, "nothing in %s can be repaired without losing records or delivery state\n", dir)
	case len(p.Actions) == 0:
		fmt.Fprintf(w, "nothing to repair in %s\n", dir)
	case res.Applied:
		fmt.Fprintf(w, "repaired %s (originals copied to %s):\n", dir, res.BackupDir)
	default:
		fmt.Fprintf(w, "repair plan for %s (nothing changed; --apply carries it out):\n", dir)
	}
	for i, act := range p.Actions {
		fmt.Fprintf(w, "  %d. %s %s: %s\n", i+1, act.Kind, act.File, act.Detail)
	}
	if len(p.Actions) > 0 {
		lost := "none"
		switch {
		case len(p.Unreadable) > 0 && len(p.Dropped) > 0:
			lost = fmt.Sprintf("%s unreadable already; %s readable, dropped by the cut", inspect.FormatRanges(p.Unreadable), inspect.FormatRanges(p.Dropped))
		case len(p.Unreadable) > 0:
			lost = inspect.FormatRanges(p.Unreadable) + " (unreadable already)"
		case len(p.Dropped) > 0:
			lost = inspect.FormatRanges(p.Dropped) + " (readable, dropped by the cut)"
		}
		fmt.Fprintf(w, "offsets lost: %s; the next append gets offset %d\n", lost, p.Next)
	}
	if len(p.Unresolved) > 0 {
		if unreadable || p.DictOnly {
			fmt.Fprintf(w, "left as it is:\n")
		} else {
			fmt.Fprintf(w, "left as it is (needs --cut-corrupt or --reset-checkpoint):\n")
		}
		for _, f := range p.Unresolved {
			fmt.Fprintf(w, "  ")
			a.printFinding(w, f)
		}
		if len(p.RestoreDicts) > 0 {
			fmt.Fprintf(w, "restore the dictionary files %s from a backup: the frames that name them are intact, and repair never cuts them nor deletes or rewrites a dictionary\n", strings.Join(p.RestoreDicts, ", "))
		}
	}
	if r := res.After; r != nil {
		if r.Healthy() {
			fmt.Fprintf(w, "after the repair: healthy, offsets [%d, %d)\n", r.First, r.Next)
		} else {
			fmt.Fprintf(w, "after the repair: %s, %s remain:\n", plural(r.Counts.Errors, "error", "errors"), plural(r.Counts.Warnings, "warning", "warnings"))
			for _, f := range remaining {
				fmt.Fprintf(w, "  ")
				a.printFinding(w, f)
			}
		}
	}
}
