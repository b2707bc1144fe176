package main

import (
	"errors"
	"fmt"
	"strings"

	seglog "github.com/seglog/seglog/log"
)

// jsonPendingGap is a run of pending offsets that delivery hands out as a
// gap, in info's JSON.
type jsonPendingGap struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// pendingGaps reads the pending records of the log in dir, from the
// delivery cursor, and returns the runs of offsets that Pending would hand
// out as gaps. The error says why the records could not be read (the log
// does not open, or damage whose extent is unknown).
func (a *app) pendingGaps(dir string) ([]jsonPendingGap, error) {
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: a.logger()})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	gaps := []jsonPendingGap{}
	for _, err := range l.Records(l.State().Cursor) {
		if err == nil {
			continue
		}
		var ge *seglog.GapError
		if !errors.As(err, &ge) {
			return gaps, err
		}
		g := ge.Gap
		if n := len(gaps); n > 0 && gaps[n-1].To == g.Offset {
			gaps[n-1].To = g.End() // adjacent damage is one gap, as Pending hands it out
			continue
		}
		gaps = append(gaps, jsonPendingGap{From: g.Offset, To: g.End(), Reason: g.Reason.String(), Detail: strings.TrimPrefix(g.Detail, "seglog: ")})
	}
	return gaps, nil
}

// gapsLine is info's text line for the pending gaps.
func gapsLine(gaps []jsonPendingGap, err error) string {
	var parts []string
	for _, g := range gaps {
		parts = append(parts, fmt.Sprintf("[%d, %d) %s: %s", g.From, g.To, g.Reason, g.Detail))
	}
	if err != nil {
		parts = append(parts, fmt.Sprintf("cannot read further: %s", message(err)))
	}
	if len(parts) == 0 {
		return "none: every pending record can be read"
	}
	return strings.Join(parts, "; ")
}
