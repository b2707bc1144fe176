package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	seglog "github.com/seglog/seglog/log"
)

// The accepted types and the held records in info and stats, and dump
// --held.

type jsonHeld struct {
	// Accepted is the accepted set, sorted; null when none was ever set
	// (every type is accepted).
	Accepted []string `json:"accepted_types"`
	// Held counts the held records; ByType per type ("" for untyped).
	Held   uint64            `json:"held"`
	ByType map[string]uint64 `json:"held_by_type"`
	Error  string            `json:"error,omitempty"`
	// pending is State().PendingCount: held records left out.
	pending uint64
}

// heldInfo reads the accepted set and the held records' counts through a
// read-only open of the log; nil when there is neither.
func (a *app) heldInfo(dir string) *jsonHeld {
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil // info reports what is wrong with the log otherwise
	}
	defer l.Close()
	j := &jsonHeld{Accepted: l.AcceptedTypes(), ByType: l.HeldCounts(), pending: l.State().PendingCount}
	for _, n := range j.ByType {
		j.Held += n
	}
	if j.Accepted == nil && j.Held == 0 {
		return nil
	}
	if j.ByType == nil {
		j.ByType = map[string]uint64{}
	}
	return j
}

// printHeld writes the held line of info and stats.
func printHeld(w io.Writer, j *jsonHeld) {
	if j == nil {
		return
	}
	acc := "all types"
	if j.Accepted != nil {
		var names []string
		for _, t := range j.Accepted {
			names = append(names, typeName(t))
		}
		acc = "none"
		if len(names) > 0 {
			acc = strings.Join(names, ", ")
		}
	}
	fmt.Fprintf(w, "accepted types\t%s\n", acc)
	var per []string
	for _, t := range slices.Sorted(maps.Keys(j.ByType)) {
		per = append(per, fmt.Sprintf("%s %s", typeName(t), comma(j.ByType[t])))
	}
	line := plural(int(j.Held), "record", "records")
	if len(per) > 0 {
		line += ": " + strings.Join(per, ", ")
	}
	fmt.Fprintf(w, "held\t%s\n", line)
}

func typeName(t string) string {
	if t == "" {
		return "-"
	}
	return t
}

// dumpHeld prints the held records, with their original offsets.
func (a *app) dumpHeld(w *bufio.Writer, l *seglog.Log, o dumpOptions) error {
	printed := 0
	for rec, err := range l.HeldRecords() {
		if err != nil {
			w.Flush()
			return fail(exitProblems, "%s --held: %v", o.name, err)
		}
		if rec.Offset < o.from || (o.toSet && rec.Offset >= o.to) || (o.typSet && rec.Type != o.typ) {
			continue
		}
		if err := a.writeRecord(w, rec, o.payload); err != nil {
			return fail(exitProblems, "%s: %v", o.name, err)
		}
		if printed++; o.count > 0 && printed >= o.count {
			break
		}
	}
	return w.Flush()
}
