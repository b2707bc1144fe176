package log_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestModelReserved runs a plain model of the failure window and the
// sessions beside a real log on a crash-simulating filesystem, under random
// appends (plain, always kept, in sessions open and ended), failed and
// successful exchanges (with the clock going forward and, now and then,
// back), batches, session changes, reopens and crashes, and compares the
// two after every step: what each append returns, Failures, Sessions and
// the notice each batch carries. A crash loses only the refusals counted
// since the last save; the notice a crash forgets to take off is carried
// again.
//
//	go test ./log -run TestModelReserved -seed 12345 -model.steps 5000 -v
func TestModelReserved(t *testing.T) {
	seed := testSeed(t)
	for run := range 3 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			m := newReservedModel(t, rand.New(rand.NewPCG(seed, uint64(run))))
			for step := range *modelSteps {
				m.step(step)
			}
			m.l.Close()
			t.Logf("%d steps: %v", *modelSteps, m.counts)
		})
	}
}

// rmState is the model: what the log should report.
type rmState struct {
	first, last time.Time // zero when no run of failures lasts
	refused     uint64    // refused during the run
	unreported  uint64    // refused during ended runs, to report
	sessions    map[string]string
}

func (s rmState) clone() rmState {
	c := s
	c.sessions = make(map[string]string, len(s.sessions))
	for k, v := range s.sessions {
		c.sessions[k] = v
	}
	return c
}

type reservedModel struct {
	t       *testing.T
	rng     *rand.Rand
	fsys    *crashfs.FS
	l       *seglog.Log
	window  time.Duration
	clock   time.Time
	cur     rmState
	durable rmState  // as last saved
	notice  uint64   // Refused of the last batch, if not taken off yet
	down    bool     // the peer is unreachable: exchanges fail
	ended   []string // ids of ended sessions
	counts  map[string]int
}

func newReservedModel(t *testing.T, rng *rand.Rand) *reservedModel {
	m := &reservedModel{t: t, rng: rng, fsys: crashfs.New(), window: time.Hour, clock: outageT0,
		cur: rmState{sessions: map[string]string{}}, counts: map[string]int{}}
	m.durable = m.cur.clone()
	m.open()
	return m
}

func (m *reservedModel) open() {
	o := crashOpts(m.fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	o.FailureWindow = m.window
	m.l = openCrash(m.t, o)
}

func (m *reservedModel) refusing() bool {
	return !m.cur.first.IsZero() && m.cur.last.Sub(m.cur.first) > m.window
}

// saved records that the log saved its state: the model's is durable.
func (m *reservedModel) saved() { m.durable = m.cur.clone() }

func (m *reservedModel) scope() string { return fmt.Sprintf("scope-%d", m.rng.IntN(4)) }

func (m *reservedModel) step(step int) {
	t := m.t
	what := ""
	if m.rng.IntN(40) == 0 {
		m.down = !m.down // outages, and the times between
	}
	switch n := m.rng.IntN(100); {
	case n < 30:
		what = "append"
		kept := m.rng.IntN(4) == 0
		session := ""
		want := error(nil)
		switch k := m.rng.IntN(4); {
		case k == 0 && len(m.ended) > 0:
			session = m.ended[m.rng.IntN(len(m.ended))]
			want = seglog.ErrSessionEnded
		case k == 1 && len(m.cur.sessions) > 0:
			ids := slices.Sorted(mapValues(m.cur.sessions))
			session = ids[m.rng.IntN(len(ids))]
		}
		if want == nil && !kept && m.refusing() {
			want = seglog.ErrOutage
		}
		next := m.l.NextOffset()
		_, err := m.l.AppendWith([]byte(fmt.Sprint(step)), seglog.AppendOptions{Session: session, AlwaysKept: kept})
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("step %d: append (session %q, kept %v): %v, want %v (model %+v)", step, session, kept, err, want, m.cur)
		}
		if errors.Is(err, seglog.ErrOutage) {
			m.cur.refused++
			what = "append refused"
		} else if err != nil {
			what = "append stale"
		} else if m.l.NextOffset() != next+1 {
			t.Fatalf("step %d: append moved the next offset from %d to %d", step, next, m.l.NextOffset())
		}
	case n < 45 || (n < 62 && m.down):
		what = "failure"
		if n >= 45 {
			what = "failed exchange"
			b := mustPending(t, m.l, 20)
			if b.Refused != m.durable.unreported {
				t.Fatalf("step %d: batch Refused %d, want %d (model %+v)", step, b.Refused, m.durable.unreported, m.cur)
			}
			m.notice = b.Refused
		}
		// Mostly forward, across the window now and then; sometimes back.
		d := time.Duration(m.rng.IntN(40)) * time.Minute
		if m.rng.IntN(8) == 0 {
			d = -d
		}
		m.clock = m.clock.Add(d)
		if err := m.l.RecordExchangeFailure(m.clock); err != nil {
			t.Fatalf("step %d: RecordExchangeFailure: %v", step, err)
		}
		switch {
		case m.cur.first.IsZero():
			m.cur.first, m.cur.last = m.clock, m.clock
		case m.clock.After(m.cur.last):
			m.cur.last = m.clock
		}
		m.saved()
	case n < 58:
		what = "exchange"
		b := mustPending(t, m.l, 20)
		if b.Refused != m.durable.unreported {
			t.Fatalf("step %d: batch Refused %d, want %d (model %+v)", step, b.Refused, m.durable.unreported, m.cur)
		}
		m.notice = b.Refused
		mustAck(t, m.l, b.Next())
		fallthrough
	case n < 62:
		if what == "" {
			what = "success"
		}
		if err := m.l.RecordExchangeSuccess(); err != nil {
			t.Fatalf("step %d: RecordExchangeSuccess: %v", step, err)
		}
		m.cur.unreported -= min(m.notice, m.cur.unreported)
		m.notice = 0
		if !m.cur.first.IsZero() {
			m.cur.unreported += m.cur.refused
			m.cur.first, m.cur.last, m.cur.refused = time.Time{}, time.Time{}, 0
		}
		m.saved()
	case n < 72:
		what = "open session"
		scope := m.scope()
		id, err := m.l.OpenSession(scope)
		if err != nil {
			t.Fatalf("step %d: OpenSession: %v", step, err)
		}
		if old, ok := m.cur.sessions[scope]; ok && old != id {
			t.Fatalf("step %d: OpenSession(%q) = %q, the scope's open session is %q", step, scope, id, old)
		}
		m.cur.sessions[scope] = id
		m.saved()
	case n < 78:
		what = "end sessions"
		scope := m.scope()
		if err := m.l.EndSessions(scope); err != nil {
			t.Fatalf("step %d: EndSessions: %v", step, err)
		}
		if id, ok := m.cur.sessions[scope]; ok {
			m.ended = append(m.ended, id)
			delete(m.cur.sessions, scope)
		}
		m.saved()
	case n < 81:
		what = "end all sessions"
		if err := m.l.EndAllSessions(); err != nil {
			t.Fatalf("step %d: EndAllSessions: %v", step, err)
		}
		for _, id := range m.cur.sessions {
			m.ended = append(m.ended, id)
		}
		clear(m.cur.sessions)
		m.saved()
	case n < 85:
		what = "reopen"
		if err := m.l.Close(); err != nil {
			t.Fatalf("step %d: Close: %v", step, err)
		}
		m.saved() // Close saves the refusals
		m.notice = 0
		m.open()
	case n < 88:
		what = "crash"
		m.fsys = m.fsys.Crash(m.rng, crashfs.CrashRandom)
		m.l.Close()
		m.cur = m.durable.clone()
		m.notice = 0
		m.open()
	default:
		what = "pending"
		b := mustPending(t, m.l, 20)
		if b.Refused != m.durable.unreported {
			t.Fatalf("step %d: batch Refused %d, want %d (model %+v)", step, b.Refused, m.durable.unreported, m.cur)
		}
		m.notice = b.Refused
	}
	m.counts[what]++
	m.check(step, what)
}

func (m *reservedModel) check(step int, what string) {
	t := m.t
	want := seglog.Failures{First: m.cur.first, Last: m.cur.last, Refusing: m.refusing(), Refused: m.cur.refused, Unreported: m.cur.unreported}
	if got := m.l.Failures(); got != want {
		t.Fatalf("step %d (%s): Failures() = %+v\nmodel          %+v", step, what, got, want)
	}
	var ss []seglog.Session
	for _, scope := range slices.Sorted(mapKeys(m.cur.sessions)) {
		ss = append(ss, seglog.Session{Scope: scope, ID: m.cur.sessions[scope]})
	}
	if got := m.l.Sessions(); !slices.Equal(got, ss) {
		t.Fatalf("step %d (%s): Sessions() = %v, model %v", step, what, got, ss)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}
