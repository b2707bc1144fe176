package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	"github.com/seglog/seglog/segment"
)

func (a *app) importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Convert another log format into a seglog log",
	}
	var (
		o         inspect.ImportOptions
		codecName string
	)
	tw := &cobra.Command{
		Use:   "tidwall SRC DST",
		Short: "Convert a github.com/tidwall/wal directory into a seglog log",
		Long: `import tidwall reads the github.com/tidwall/wal log in SRC, in index order,
and writes its entries as untyped records to a new seglog log in DST, which
must not exist or be empty. The first entry gets offset 0; the source's
first and last index are kept in the metadata keys
"import.tidwall.first_index" and "import.tidwall.last_index". SRC is opened
with tidwall/wal itself, which completes a truncation a crash interrupted.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Codec, err = segment.ParseCodec(codecName); err != nil {
				return err
			}
			switch o.Format {
			case "auto", "binary", "json":
			default:
				return fmt.Errorf("--format %q: want auto, binary or json", o.Format)
			}
			return a.importTidwall(args[0], args[1], o)
		},
	}
	tw.Flags().StringVar(&o.Format, "format", "auto", "format of SRC: auto, binary or json")
	tw.Flags().StringVar(&codecName, "codec", "none", "compression of the new log's frames: none, s2 or zstd")
	cmd.AddCommand(tw)
	return cmd
}

func (a *app) importTidwall(src, dst string, o inspect.ImportOptions) error {
	res, err := inspect.ImportTidwall(a.ctx, src, dst, o)
	if errors.Is(err, inspect.ErrNotEmpty) {
		return fail(exitProblems, "import: %v", err)
	}
	if err != nil {
		return fail(exitOpen, "import: %v", err)
	}
	if a.json {
		return writeJSON(a.stdout, struct {
			Source     string `json:"source"`
			Dest       string `json:"dest"`
			Format     string `json:"format"`
			Records    uint64 `json:"records"`
			Bytes      uint64 `json:"bytes"`
			FirstIndex uint64 `json:"first_index"`
			LastIndex  uint64 `json:"last_index"`
		}{src, dst, res.Format, res.Records, res.Bytes, res.FirstIndex, res.LastIndex})
	}
	fmt.Fprintf(a.stdout, "imported %s records (%s) from the tidwall/wal log %s (%s format, indexes %d to %d) into %s: offsets [0, %d)\n",
		comma(res.Records), size(int64(res.Bytes)), src, res.Format, res.FirstIndex, res.LastIndex, dst, res.Records)
	if res.Records > 0 {
		fmt.Fprintf(a.stdout, "the record at offset o had tidwall index %d+o (metadata %s, %s)\n", res.FirstIndex, inspect.MetaTidwallFirst, inspect.MetaTidwallLast)
	}
	return nil
}
