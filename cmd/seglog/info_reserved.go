package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/seglog/seglog/checkpoint"
)

// The failure window and the sessions in info: the log's own entries of
// the checkpoint's metadata (checkpoint.ReservedPrefix).

type jsonFailures struct {
	FirstFailure  *time.Time `json:"first_failure,omitempty"`
	LatestFailure *time.Time `json:"latest_failure,omitempty"`
	// FailingSeconds is latest - first: appends are refused once it
	// exceeds the writer's Options.FailureWindow.
	FailingSeconds *float64 `json:"failing_seconds,omitempty"`
	RefusedInRun   uint64   `json:"refused_in_run"`
	Unreported     uint64   `json:"refused_unreported"`
}

type jsonSession struct {
	Scope string `json:"scope"`
	ID    string `json:"id"`
}

// reservedInfo decodes the log's own metadata entries for info, and takes
// their keys out of the metadata keys. An entry that does not decode (the
// writer's Open would refuse it) is a problem.
func reservedInfo(j *jsonInfo, st checkpoint.State, file string) {
	j.MetadataKeys = slices.DeleteFunc(j.MetadataKeys, checkpoint.IsReserved)
	r, err := checkpoint.ParseReserved(st)
	if err != nil {
		if ce, ok := err.(*checkpoint.CorruptError); ok {
			ce.File = file
		}
		j.reservedErr = err.Error()
		j.Problems = append(j.Problems, j.reservedErr)
		return
	}
	if r.Failure != nil || r.Refused > 0 {
		f := &jsonFailures{Unreported: r.Refused}
		if r.Failure != nil {
			first, last := r.Failure.First, r.Failure.Last
			secs := last.Sub(first).Seconds()
			f.FirstFailure, f.LatestFailure, f.FailingSeconds = &first, &last, &secs
			f.RefusedInRun = r.Failure.Refused
		}
		j.Failures = f
	}
	for _, s := range r.Sessions {
		j.Sessions = append(j.Sessions, jsonSession{Scope: s.Scope, ID: s.IDString()})
	}
}

// printReserved writes the failure and session lines of info, if any.
func printReserved(w io.Writer, j *jsonInfo) {
	if j.reservedErr != "" {
		fmt.Fprintf(w, "attention\t%s; a writer's Open refuses it\n", j.reservedErr)
	}
	if f := j.Failures; f != nil {
		if f.FirstFailure != nil {
			fmt.Fprintf(w, "exchanges\tfailing since %s, latest failure %s (%s later); %s refused in this outage\n",
				f.FirstFailure.Format(time.RFC3339), f.LatestFailure.Format(time.RFC3339),
				time.Duration(*f.FailingSeconds*1e9).Round(time.Second), plural(int(f.RefusedInRun), "record", "records"))
		}
		if f.Unreported > 0 {
			fmt.Fprintf(w, "refused\t%s refused in an ended outage, not yet reported to the peer\n", plural(int(f.Unreported), "record", "records"))
		}
	}
	if len(j.Sessions) > 0 {
		var ss []string
		for _, s := range j.Sessions {
			ss = append(ss, fmt.Sprintf("%q %s", s.Scope, s.ID))
		}
		fmt.Fprintf(w, "sessions\t%s: %s\n", plural(len(ss), "open", "open"), strings.Join(ss, ", "))
	}
}
