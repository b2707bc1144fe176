package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
)

func (a *app) segmentsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "segments DIR",
		Short: "A row per segment: offsets, records, bytes, state, index",
		Long: `segments prints a row per segment file of the log in DIR: its name, base
and last offset, records, bytes, whether it is sealed or the active one,
and the state of its index. Sealed segments are read through their index;
the active one is read whole. A NOTE says what stopped a read short of
the end of the file. "seglog verify" checks every byte.

Exit status 0 whenever the table could be printed, NOTEs included.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.segments(args[0])
		},
	}
}

type jsonSegment struct {
	File         string  `json:"file"`
	Base         uint64  `json:"base"`
	Last         *uint64 `json:"last"` // null when empty
	Records      uint64  `json:"records"`
	Bytes        int64   `json:"bytes"`
	State        string  `json:"state"`
	Index        string  `json:"index"`
	IndexEntries int     `json:"index_entries"`
	Note         string  `json:"note,omitempty"`
	TailBytes    int64   `json:"tail_bytes,omitempty"`
}

func (a *app) segments(dir string) error {
	_, segs, err := inspect.ListSegments(dir)
	if err != nil {
		return openErr(dir, err)
	}
	rows := make([]jsonSegment, 0, len(segs))
	for _, s := range segs {
		r := jsonSegment{File: s.Name, Base: s.Base, Records: s.Records, Bytes: s.Size,
			State: "sealed", Index: s.IndexState, IndexEntries: s.IndexEntries, Note: s.Problem, TailBytes: s.TailBytes}
		if s.Active {
			r.State = "active"
		}
		if s.Records > 0 {
			last := s.Next - 1
			r.Last = &last
		}
		rows = append(rows, r)
	}
	if a.json {
		return writeJSON(a.stdout, struct {
			Segments []jsonSegment `json:"segments"`
		}{rows})
	}
	{
		notes := false
		for _, r := range rows {
			notes = notes || r.Note != ""
		}
		w := newTable(a.stdout)
		fmt.Fprint(w, "FILE\tBASE\tLAST\tRECORDS\tBYTES\tSTATE\tINDEX")
		if notes {
			fmt.Fprint(w, "\tNOTE")
		}
		fmt.Fprintln(w)
		for _, r := range rows {
			last := "-"
			if r.Last != nil {
				last = strconv.FormatUint(*r.Last, 10)
			}
			idx := r.Index
			if r.Index == "" {
				idx = "-"
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s", r.File, r.Base, last, comma(r.Records), size(r.Bytes), r.State, idx)
			if notes {
				fmt.Fprintf(w, "\t%s", r.Note)
				if r.TailBytes > 0 {
					fmt.Fprintf(w, " (%d bytes)", r.TailBytes)
				}
			}
			fmt.Fprintln(w)
		}
		return w.Flush()
	}
}
