package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of seglog and of its formats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, rev := "(devel)", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			if a.json {
				return writeJSON(a.stdout, struct {
					Version  string `json:"version"`
					Revision string `json:"revision,omitempty"`
					Go       string `json:"go"`
					Platform string `json:"platform"`
					Formats  struct {
						Segment    int `json:"segment"`
						Index      int `json:"index"`
						Checkpoint int `json:"checkpoint"`
					} `json:"formats"`
				}{Version: v, Revision: rev, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
					Formats: struct {
						Segment    int `json:"segment"`
						Index      int `json:"index"`
						Checkpoint int `json:"checkpoint"`
					}{segment.Version, index.Version, checkpoint.Version}})
			}
			if rev != "" {
				v += " " + rev
			}
			fmt.Fprintf(a.stdout, "seglog %s (%s, %s/%s)\nformats: segment v%d, index v%d, checkpoint v%d\n",
				v, runtime.Version(), runtime.GOOS, runtime.GOARCH, segment.Version, index.Version, checkpoint.Version)
			return nil
		},
	}
}
