package demo

import seglog "github.com/seglog/seglog/log"

// peer is the server side of the exchange, in process. It keeps the
// messages it has accepted and the sequence number it expects next, and
// answers every batch with that number, as the reference server does: a
// message labelled with the expected number is accepted, one labelled
// lower is a duplicate and dropped, one labelled higher follows a gap and
// is dropped too.
type peer struct {
	next uint64   // the sequence number expected next
	got  []string // names of the messages accepted, in order
}

// receive processes a batch and returns the answer.
func (p *peer) receive(b seglog.Batch) uint64 {
	for i, r := range b.Records {
		if b.Sequence+uint64(i) == p.next {
			p.got = append(p.got, name(r))
			p.next++
		}
	}
	return p.next
}

// restore rolls the peer back to a backup taken when it expected next:
// the messages it accepted since are forgotten.
func (p *peer) restore(next uint64) {
	keep := len(p.got) - int(p.next-next)
	p.got = p.got[:max(keep, 0)]
	p.next = next
}
