// Package exchange is seglog's HTTP exchange: a Client that is a
// ship.Sink, and a Server, an http.Handler that keeps one seglog log per
// agent as its inbox and answers the label it expects next.
//
// One POST carries one batch:
//
//	POST /v1/agents/{agent}/batches
//	Authorization: Bearer SECRET
//	Content-Type: application/vnd.seglog.batch.v1
//	Content-Encoding: zstd
//
// whose body, once decompressed, is the magic "SGLB", the version (1), a
// flags byte (0), the batch's first label as a uvarint, then its entries
// (0x01 a record: type and data, each a uvarint length and its bytes;
// 0x02 a gap: a uvarint count of labels, a reason byte and a uvarint-long
// detail), and a trailer (0x00, the number of entries and of labels, two
// uvarints). The answer is JSON: {"next": N} and, when the server has
// them, "accepted_types". docs/shipping.md is the full description.
//
// The server's only state is each inbox: the record labelled L is at
// offset L, a gap's labels are marker records of type GapType, and the
// answer is the inbox's next offset. A crash at any point leaves an inbox
// whose next offset is exactly what it holds, so nothing is stored twice
// and nothing the agent was told is stored is lost.
package exchange
