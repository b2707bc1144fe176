package inspect

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// SyncPrice is what the disk holding a directory charges to make a small
// write durable, the floor under any durable append: the median time of a
// write followed by a sync, each kind measured Samples times.
type SyncPrice struct {
	Samples int
	// Overwrite is a 128-byte write into blocks the file already holds,
	// then fdatasync: the cheapest commit a log can get.
	Overwrite time.Duration
	// Extend is a 128-byte append that grows the file, then fsync, which
	// must commit the new size too.
	Extend time.Duration
}

// MeasureSyncPrice measures SyncPrice in a temporary file in dir.
func MeasureSyncPrice(dir string, samples int) (SyncPrice, error) {
	p := SyncPrice{Samples: max(samples, 1)}
	f, err := os.CreateTemp(dir, "seglog-syncprice-")
	if err != nil {
		return p, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rec := make([]byte, 128)
	for i := range rec {
		rec[i] = byte('a' + i%26)
	}
	// Blocks the file holds: written and synced before the clock starts.
	held := make([]byte, p.Samples*len(rec)+4096)
	if _, err := f.WriteAt(held, 0); err != nil {
		return p, err
	}
	if err := f.Sync(); err != nil {
		return p, err
	}
	times := make([]time.Duration, p.Samples)
	for i := range times {
		t := time.Now()
		if _, err := f.WriteAt(rec, int64(i*len(rec))); err != nil {
			return p, err
		}
		if err := fdatasync(f); err != nil {
			return p, fmt.Errorf("fdatasync %s: %w", filepath.Base(f.Name()), err)
		}
		times[i] = time.Since(t)
	}
	p.Overwrite = median(times)
	end := int64(len(held))
	for i := range times {
		t := time.Now()
		if _, err := f.WriteAt(rec, end); err != nil {
			return p, err
		}
		if err := f.Sync(); err != nil {
			return p, err
		}
		times[i] = time.Since(t)
		end += int64(len(rec))
	}
	p.Extend = median(times)
	return p, nil
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
