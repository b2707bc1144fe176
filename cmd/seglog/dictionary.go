package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

func (a *app) dictionaryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "train-dictionary DIR",
		Short: "Train a compression dictionary from the latest records of the log",
		Long: `train-dictionary trains a compression dictionary from the latest records of
the log in DIR (up to 1 MiB of them), and writes it durably beside the
segments, as Log.TrainDictionary does. Writers compress new frames with it
(s2 or zstd, as they are configured) from their next segment on. It needs
the log's lock: run it while no writer has the log open, or call
TrainDictionary from the writer. seglog stats shows the ratio it gives.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if _, err := inspect.ReadDir(dir); err != nil {
				return openErr(dir, err)
			}
			l, err := seglog.Open(dir, &seglog.Options{Logger: a.logger()})
			if errors.Is(err, seglog.ErrLocked) {
				return fail(exitLocked, "%v: another process writes %s; train from that process with Log.TrainDictionary", err, dir)
			}
			if err != nil {
				return fail(exitOpen, "%v", err)
			}
			info, err := l.TrainDictionary()
			if cerr := l.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fail(exitProblems, "%v", err)
			}
			if a.json {
				return writeJSON(a.stdout, struct {
					ID   uint16 `json:"id"`
					File string `json:"file"`
					Size int    `json:"size"`
				}{info.ID, info.File, info.Size})
			}
			fmt.Fprintf(a.stdout, "dictionary %d: %s, %s\n", info.ID, info.File, size(int64(info.Size)))
			return nil
		},
	}
}
