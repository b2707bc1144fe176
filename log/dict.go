package log

import (
	"errors"
	"fmt"

	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// maxDictionarySample bounds Options.DictionarySample: the sample is held
// in memory until the dictionary is trained.
const maxDictionarySample = 16 << 20

// defaultTrainSample is what TrainDictionary reads when
// Options.DictionarySample is not set.
const defaultTrainSample = 1 << 20

// trainRecords bounds the records TrainDictionary reads back.
const trainRecords = 1 << 16

// DictionaryInfo describes a compression dictionary of the log.
type DictionaryInfo struct {
	ID   uint16 // what frames compressed with it name
	File string // its file in the log directory
	Size int    // its content, in bytes
}

// dictSample gathers the first records appended, encoded as in a frame,
// until it holds limit bytes; then full runs, once.
type dictSample struct {
	limit int
	n     int
	recs  [][]byte
	full  func([][]byte)
}

func (s *dictSample) add(rec []byte) {
	if s.n >= s.limit {
		return
	}
	if len(rec) <= s.limit-s.n {
		s.recs = append(s.recs, append([]byte(nil), rec...))
	}
	s.n += len(rec)
	if s.n >= s.limit {
		recs := s.recs
		s.recs = nil
		s.full(recs)
	}
}

// appendSegmentHeader encodes the header of a new segment: of the format
// version whose frames may name a dictionary when the log has or trains
// dictionaries, else of the version older builds read.
func (l *Log) appendSegmentHeader(s *segFile, base uint64, flags uint16, salt segment.Salt) []byte {
	if l.dicts.Any() || l.opts.DictionarySample > 0 && l.opts.Codec != CodecNone {
		s.version.Store(segment.Version)
		return segment.AppendFileHeaderDict(nil, base, flags, salt)
	}
	s.version.Store(segment.VersionSalted)
	return segment.AppendFileHeader(nil, base, flags, salt)
}

// adoptDictLocked gives w the newest dictionary, if its segment's format
// lets frames name one, and starts sampling records to train one when the
// log should and has none.
func (l *Log) adoptDictLocked(w *writer) {
	if w.seg.version.Load() == segment.Version {
		w.dict = l.dicts.Newest()
	}
	if w.dict == nil && w.sample == nil && l.opts.DictionarySample > 0 && l.opts.Codec != CodecNone &&
		l.follow == nil && !l.trainStarted.Load() && l.dicts.Newest() == nil {
		w.sample = &dictSample{limit: l.opts.DictionarySample, full: l.trainInBackground}
	}
}

// trainInBackground trains a dictionary from the sampled records, with
// Log.mu held by the caller: the work goes to a goroutine that Close
// waits for.
func (l *Log) trainInBackground(recs [][]byte) {
	l.trainStarted.Store(true)
	l.training.Add(1)
	go func() {
		defer l.training.Done()
		if _, err := l.addDictionary(recs); err != nil && !errors.Is(err, ErrClosed) {
			l.logger.Warn("seglog: cannot train a compression dictionary", "dir", l.dir, "err", err)
		}
	}()
}

// addDictionary trains a dictionary from recs, writes it durably and gives
// it to the writer.
func (l *Log) addDictionary(recs [][]byte) (DictionaryInfo, error) {
	content := dict.Train(recs, dict.DefaultSize)
	if content == nil {
		return DictionaryInfo{}, fmt.Errorf("seglog: train dictionary: %d records are too few to train from", len(recs))
	}
	d, err := l.dicts.Add(content, l.opts.FileMode)
	if err != nil {
		return DictionaryInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A roll under way may have made its writer before the dictionary
	// was added: adopt into the writer it leaves.
	l.waitRollLocked()
	if l.mu.closed {
		return DictionaryInfo{}, ErrClosed
	}
	if w := l.mu.w; w != nil {
		w.sample = nil
		l.adoptDictLocked(w)
	}
	return DictionaryInfo{ID: d.ID, File: l.dicts.Path(d.ID), Size: len(d.Content)}, nil
}

// TrainDictionary trains a compression dictionary from the latest records
// (up to Options.DictionarySample bytes of them, 1 MiB if that is not
// set), writes it durably beside the segments, and compresses new frames
// with it: those of the active segment if it was started with
// dictionaries in view (Options.DictionarySample set, or a dictionary
// already in the log), else those of the segments started from now on.
// Frames name the dictionary they were compressed with, so earlier
// dictionaries stay in use for earlier frames.
func (l *Log) TrainDictionary() (DictionaryInfo, error) {
	l.mu.Lock()
	err := l.writableLocked()
	first, next := l.mu.state.First, l.mu.next
	l.mu.Unlock()
	if err != nil {
		return DictionaryInfo{}, err
	}
	limit := l.opts.DictionarySample
	if limit == 0 {
		limit = defaultTrainSample
	}
	from := first
	if next-from > trainRecords {
		from = next - trainRecords
	}
	var recs [][]byte
	n := 0
	for r, err := range l.Records(from) {
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				continue // train from what can be read
			}
			return DictionaryInfo{}, err
		}
		if r.Offset >= next || n >= limit {
			break
		}
		rec := segment.AppendRecord(nil, r.Type, r.Data)
		recs = append(recs, rec)
		n += len(rec)
	}
	return l.addDictionary(recs)
}
