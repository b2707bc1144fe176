package demo

// script plays the exchange. The numbers are those of docs/protocol.md:
// messages A, B, C... are offsets 0, 1, 2..., and S and P are the sequence
// and the number of messages kept before the cursor.
func (d *demo) script() error {
	d.printf("seglog delivery protocol demo: an agent's log and its peer, in one process.\n")
	d.printf("Each message is %d bytes; three fill a %d KiB segment file.\n", recordSize, (16<<10)>>10)

	d.heading("The agent queues ten messages.")
	if err := d.queue(10); err != nil {
		return err
	}
	if err := d.show(); err != nil {
		return err
	}

	d.heading("A batch of three; the peer has them all.")
	if err := d.exchange(3); err != nil {
		return err
	}

	d.heading("A batch of five; the peer has them all. A, B, C, acknowledged the time before, go.")
	if err := d.exchange(5); err != nil {
		return err
	}

	d.heading("The peer is restored from a backup taken when it expected 5, and loses F..H.")
	d.peer.restore(5)
	if err := d.exchange(5); err != nil {
		return err
	}

	d.heading("The kept messages are sent again from F.")
	if err := d.exchange(10); err != nil {
		return err
	}

	d.heading("The agent restarts: the state is on disk.")
	if err := d.l.Close(); err != nil {
		return err
	}
	if err := d.open(); err != nil {
		return err
	}
	if err := d.show(); err != nil {
		return err
	}

	d.heading("Five more messages; their batch is lost on the way.")
	if err := d.queue(5); err != nil {
		return err
	}
	if _, err := d.send(5); err != nil {
		return err
	}
	d.printf("   (lost)\n")
	if err := d.ack(d.peer.next); err != nil {
		return err
	}
	if err := d.show(); err != nil {
		return err
	}

	d.heading("They are sent again.")
	if err := d.exchange(5); err != nil {
		return err
	}

	d.heading("The peer is restored from a backup taken when it expected 7: older than anything kept.")
	if err := d.queue(1); err != nil {
		return err
	}
	d.peer.restore(7)
	if err := d.exchange(5); err != nil {
		return err
	}
	d.printf("   (H, I, J are gone from both sides: the resync is how the application copes)\n")

	d.heading("The oldest kept message goes out labelled with the sequence the peer asked for.")
	if err := d.exchange(10); err != nil {
		return err
	}

	d.heading("Three more messages; a batch of two is lost, and a stray answer arrives, meant for another agent.")
	if err := d.queue(3); err != nil {
		return err
	}
	b, err := d.send(2)
	if err != nil {
		return err
	}
	d.printf("   (lost)\n")
	claim := b.Sequence + 3
	if err := d.ack(claim); err != nil {
		return err
	}
	d.printf("   (the reference store compares N with the 3 pending, not the 2 sent, and would take\n")
	d.printf("   Q, R, S as delivered; here they stay pending)\n")
	d.peer.next = claim // the resync: the peer takes the agent's sequence
	if err := d.show(); err != nil {
		return err
	}

	d.heading("After the resync the pending messages go out under the new sequence.")
	if err := d.exchange(10); err != nil {
		return err
	}

	d.heading("The agent re-registers with its peer: Reset drops every message, keeps the sequence.")
	if err := d.l.Reset(); err != nil {
		return err
	}
	if err := d.queue(1); err != nil {
		return err
	}
	if err := d.show(); err != nil {
		return err
	}

	d.heading("The new message is sent.")
	return d.exchange(10)
}

// exchange sends a batch of up to max messages, lets the peer answer,
// applies the answer and draws the log.
func (d *demo) exchange(max int) error {
	b, err := d.send(max)
	if err != nil {
		return err
	}
	if err := d.ack(d.peer.receive(b)); err != nil {
		return err
	}
	return d.show()
}
