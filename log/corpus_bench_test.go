package log_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
)

// The corpus benchmarks append real agent-style messages (JSON Lines from
// the shared data directory: Debian package records, dpkg log lines) under
// each codec, and report throughput and the size on disk. They skip when
// the corpora are not there; set SEGLOG_CORPUS_DIR to point at them.

func corpusDir() string {
	if d := os.Getenv("SEGLOG_CORPUS_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "data")
}

func loadCorpus(b *testing.B, name string) [][]byte {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir(), name))
	if err != nil {
		b.Skipf("corpus not available: %v", err)
	}
	return zstdLines(b, raw)
}

func BenchmarkCorpus(b *testing.B) {
	for _, corpus := range []string{"debian-packages.jsonl.zst", "dpkg-log.jsonl.zst"} {
		b.Run(corpus, func(b *testing.B) {
			msgs := loadCorpus(b, corpus)
			var payload int64
			for _, m := range msgs {
				payload += int64(len(m))
			}
			mean := payload / int64(len(msgs))
			type variant struct {
				codec  seglog.Codec
				sample int // Options.DictionarySample
			}
			for _, v := range []variant{{seglog.CodecNone, 0}, {seglog.CodecS2, 0}, {seglog.CodecZstd, 0}, {seglog.CodecS2, 1 << 20}, {seglog.CodecZstd, 1 << 20}} {
				codec := v.codec
				name := "seglog/" + codec.String()
				if v.sample > 0 {
					name += "+dict"
				}
				b.Run(name, func(b *testing.B) {
					dir := b.TempDir()
					l, err := seglog.Open(dir, &seglog.Options{Sync: seglog.SyncNever, Codec: codec, DictionarySample: v.sample})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					b.SetBytes(mean)
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, err := l.Append(msgs[i%len(msgs)]); err != nil {
							b.Fatal(err)
						}
						i++
					}
					if err := l.Flush(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					var written int64
					for j := range i {
						written += int64(len(msgs[j%len(msgs)]))
					}
					b.ReportMetric(float64(segBytes(b, dir))/float64(written), "disk/payload")
				})
			}
			b.Run("tidwall/NoSync", func(b *testing.B) {
				w, err := wal.Open(b.TempDir(), &wal.Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				b.SetBytes(mean)
				b.ReportAllocs()
				i := uint64(0)
				for b.Loop() {
					if err := w.Write(i+1, msgs[i%uint64(len(msgs))]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
