package inspect

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/seglog/seglog/index"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment/dict"
)

// ActHeld rewrites the held store: from the frames that verify, without
// what lies past the end of the log. Part of the JSON output: stable.
const ActHeld = "rewrite_held"

// planHeld adds the held store's repair to p: a store that reaches past
// the end the plan leaves (p.Next), or whose frames are damaged mid-file,
// is rewritten. What that loses (held records at offsets the log gives
// again, damaged stretches, an interrupted re-append whose frame is gone)
// needs opts.CutCorrupt; lowering the frontier alone loses nothing.
func (p *Plan) planHeld(fsys vfs.FS, r *Report, opts RepairOptions) error {
	if !r.NextKnown && p.Next == r.Next {
		return nil // the end of the log is not known: nothing to bring in line
	}
	hr, err := seglog.RepairHeldStoreFS(fsys, r.Dir.Path, p.Next, false)
	if err != nil {
		return err
	}
	if !hr.Needed {
		return nil
	}
	var what []string
	for _, d := range hr.Damaged {
		what = append(what, fmt.Sprintf("bytes %d-%d do not verify (%s): the held records and offsets they named are lost", d.From, d.To, d.Reason))
	}
	if n := len(hr.PastEnd); n > 0 {
		var offs []string
		for i, h := range hr.PastEnd {
			if i == 10 {
				offs = append(offs, fmt.Sprintf("%d more", n-10))
				break
			}
			offs = append(offs, fmt.Sprintf("%d (type %q, %d bytes)", h.Offset, h.Type, h.Bytes))
		}
		what = append(what, fmt.Sprintf("%s at or past the end of the log (%d), whose offsets are given again, leave the store (their copies stay in the backup): offsets %s",
			plural(n, "held record", "held records"), p.Next, strings.Join(offs, ", ")))
	}
	if hr.Intent {
		what = append(what, "an interrupted re-append of held records whose frame lay past the end of the log is dropped: its records stay held")
	}
	lossy := len(what) > 0
	if hr.Holes > 0 {
		what = append(what, fmt.Sprintf("%d offsets without a label past the end of the log are dropped", hr.Holes))
	}
	if hr.Frontier > p.Next {
		what = append(what, fmt.Sprintf("frontier %d → %d", hr.Frontier, hr.NewFrontier))
	}
	if hr.Torn != nil {
		what = append(what, fmt.Sprintf("the torn tail at bytes %d-%d (%s) is left out", hr.Torn.From, hr.Torn.To, hr.Torn.Reason))
	}
	if lossy && !opts.CutCorrupt {
		for _, f := range r.Findings {
			if f.Code == CodeHeldStore && f.Severity == Error {
				p.Unresolved = append(p.Unresolved, f)
			}
		}
		return nil
	}
	p.HeldPastEnd = hr.PastEnd
	p.HeldLost = hr.Damaged
	p.Actions = append(p.Actions, Action{Kind: ActHeld, File: seglog.HeldFile,
		Detail: fmt.Sprintf("rewrite the held store keeping %s: %s", plural(hr.Kept, "held record", "held records"), joinAnd(what))})
	return nil
}

// applyHeld carries out ActHeld, the store copied aside first.
func applyHeld(fsys vfs.FS, dir, backup string, end uint64) error {
	if err := copyAside(fsys, filepath.Join(dir, seglog.HeldFile), backup); err != nil {
		return err
	}
	_, err := seglog.RepairHeldStoreFS(fsys, dir, end, true)
	return err
}

// Checkpoint layout read by recoverID: magic at 0, version u16 at 4, the
// log id at 44 in version 2 (checkpoint/format.go, frozen).
const (
	ckMagic   = "SGCK"
	ckOffVer  = 4
	ckOffID   = 44
	ckIDSize  = 16
	ckVersion = 2
)

// recoverID reads the log's id from the checkpoint slots that fail
// validation: a slot whose header says version 2 names it at a fixed
// position. It returns the id and "" when one is found (both slots
// naming one agree), or the zero id and why not.
func recoverID(fsys vfs.FS, dir string) ([16]byte, string) {
	var ids [][16]byte
	for _, n := range checkpoint.SlotNames() {
		b, err := readSmall(fsys, filepath.Join(dir, n), ckOffID+ckIDSize)
		if err != nil || len(b) < ckOffID+ckIDSize || string(b[:4]) != ckMagic ||
			binary.LittleEndian.Uint16(b[ckOffVer:]) != ckVersion {
			continue
		}
		var id [16]byte
		copy(id[:], b[ckOffID:])
		if id != ([16]byte{}) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return [16]byte{}, "neither slot names the log id (damaged, or written before ids): the next open draws a new one, and a sink keyed by it sees a different log"
	case len(ids) == 2 && !bytes.Equal(ids[0][:], ids[1][:]):
		return [16]byte{}, fmt.Sprintf("the slots name two different log ids (%s, %s), so neither can be trusted: the next open draws a new one, and a sink keyed by it sees a different log", hex.EncodeToString(ids[0][:]), hex.EncodeToString(ids[1][:]))
	}
	return ids[0], ""
}

func readSmall(fsys vfs.FS, path string, n int) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := f.ReadAt(b, 0)
	if m == n {
		err = nil
	}
	return b[:m], err
}

// keepID puts the id recoverID finds into a reset checkpoint's action.
func (p *Plan) keepID(fsys vfs.FS, dir string) {
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.Kind != ActResetCkpt {
			continue
		}
		id, why := recoverID(fsys, dir)
		if why != "" {
			a.Detail += "; " + why
			continue
		}
		a.state.ID = id
		a.Detail = strings.Replace(a.Detail, "no metadata", "no metadata, keeping the log id "+hex.EncodeToString(id[:]), 1)
	}
}

// withDictFrames adds to the entries of a rebuilt index the frames before
// end that name a missing or damaged dictionary: they are intact, and
// readable again once the dictionary file is restored.
func withDictFrames(entries []index.Entry, s *SegmentScan, end int64) []index.Entry {
	added := false
	for _, d := range s.Damage {
		if d.Dict != 0 && d.End <= end {
			entries = append(entries, index.Entry{Offset: d.Offsets.From, Pos: uint32(d.Pos), Len: uint32(d.End - d.Pos)})
			added = true
		}
	}
	if added {
		slices.SortFunc(entries, func(a, b index.Entry) int { return cmp.Compare(a.Pos, b.Pos) })
	}
	return entries
}

// dictUnresolved adds to the plan's unresolved findings the frames the
// log keeps whose dictionary is missing or damaged, and the damaged
// dictionary files: repair cannot mend them, restoring the file does.
func (p *Plan) dictUnresolved(r *Report) {
	has := func(f Finding) bool {
		return slices.ContainsFunc(p.Unresolved, func(u Finding) bool {
			return u.Code == f.Code && u.File == f.File && u.Message == f.Message
		})
	}
	n := 0
	add := func(f Finding) {
		n++
		if !has(f) {
			p.Unresolved = append(p.Unresolved, f)
		}
	}
	need := func(id uint16) {
		if name := dict.FileName(id); !slices.Contains(p.RestoreDicts, name) {
			p.RestoreDicts = append(p.RestoreDicts, name)
		}
	}
	for _, s := range r.Segments {
		for _, d := range s.Damage {
			if d.Dict == 0 || d.Offsets.From >= p.Next {
				continue
			}
			for _, f := range r.Findings {
				if f.File == s.Name && f.Position != nil && *f.Position == d.Pos {
					add(f)
					need(d.Dict)
				}
			}
		}
	}
	for _, f := range r.Findings {
		if f.Code == CodeDictCorrupt {
			add(f)
			if id, ok := dict.ParseFileName(f.File); ok {
				need(id)
			}
		}
	}
	slices.Sort(p.RestoreDicts)
	p.DictOnly = n > 0 && n == len(p.Unresolved)
}
