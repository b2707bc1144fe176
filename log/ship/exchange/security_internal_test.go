package exchange

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	seglog "github.com/seglog/seglog/log"
)

const (
	secretA = "secret-of-agent-a-0123456789"
	secretB = "secret-of-agent-b-0123456789"
)

func body(t *testing.T, b seglog.Batch) []byte {
	t.Helper()
	var raw bytes.Buffer
	if err := encodeBatch(&raw, b); err != nil {
		t.Fatal(err)
	}
	return raw.Bytes()
}

func compress(t *testing.T, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(raw, nil)
}

type request struct {
	agent    string // path segment, as sent
	auth     string // Authorization header; "-" for none
	encoding string
	ctype    string
	body     []byte
	chunked  bool // sent without a Content-Length
}

func post(t *testing.T, url string, r request) (int, string) {
	t.Helper()
	var rd io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		rd = struct{ io.Reader }{rd}
	}
	req, err := http.NewRequest(http.MethodPost, url+"/v1/agents/"+r.agent+"/batches", rd)
	if err != nil {
		t.Fatal(err)
	}
	if r.auth != "-" {
		req.Header.Set("Authorization", r.auth)
	}
	req.Header.Set("Content-Encoding", r.encoding)
	req.Header.Set("Content-Type", r.ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// listing returns every file under dir with its size, to show that a
// refused request changed nothing.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.ModTime().String())
		if !d.IsDir() {
			b.WriteString(" " + string(rune('0'+info.Size()%10)))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSecurity sends every kind of request the server must refuse and
// checks its status, and that nothing under the server's directory (or
// beside it) changed: no inbox created, no record stored.
func TestSecurity(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "inboxes")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens(map[string]string{"a": secretA, "b": secretB})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(dir, tokens, &ServerOptions{MaxBodyBytes: 64 << 10, MaxBatchBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() {
		hs.Close()
		srv.Close()
	}()

	good := body(t, seglog.Batch{Records: []seglog.Record{{Type: "t", Data: []byte("hello")}}})
	ok := request{agent: "b", auth: "Bearer " + secretB, encoding: "zstd", ctype: ContentType, body: compress(t, good)}
	// Agent b has stored one record; agent a has no inbox yet.
	if code, msg := post(t, hs.URL, ok); code != http.StatusOK || !strings.Contains(msg, `"next":1`) {
		t.Fatalf("a good request got %d %s", code, msg)
	}
	before := listing(t, root)

	with := func(f func(r *request)) request {
		r := ok
		r.agent, r.auth = "a", "Bearer "+secretA
		f(&r)
		return r
	}
	huge := make([]byte, 300<<10) // compresses to little, decodes past MaxBatchBytes
	bomb := body(t, seglog.Batch{Records: []seglog.Record{{Data: huge}}})
	noisy := make([]byte, 100<<10) // does not compress
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noisy {
		noisy[i] = byte(rng.Uint32())
	}
	trailer := append([]byte(nil), good...)
	trailer[len(trailer)-1]++ // label count
	cases := []struct {
		name string
		req  request
		want int
	}{
		{"no token", with(func(r *request) { r.auth = "-" }), 401},
		{"empty bearer", with(func(r *request) { r.auth = "Bearer " }), 401},
		{"wrong token", with(func(r *request) { r.auth = "Bearer secret-of-nobody-0123456789" }), 401},
		{"basic auth", with(func(r *request) { r.auth = "Basic " + secretA }), 401},
		{"token of another agent", with(func(r *request) { r.auth = "Bearer " + secretB }), 403},
		{"into another agent's inbox", with(func(r *request) { r.agent = "b" }), 403},
		{"unsafe id: dot file", with(func(r *request) { r.agent = ".a" }), 400},
		{"unsafe id: slash", with(func(r *request) { r.agent = "a%2F..%2F..%2Fx" }), 400},
		{"unsafe id: backslash", with(func(r *request) { r.agent = `a%5Cb` }), 400},
		{"unsafe id: NUL", with(func(r *request) { r.agent = "a%00" }), 400},
		{"unsafe id: space", with(func(r *request) { r.agent = "a%20b" }), 400},
		{"unsafe id: too long", with(func(r *request) { r.agent = strings.Repeat("a", 129) }), 400},
		{"body over the limit", with(func(r *request) { r.body = compress(t, body(t, seglog.Batch{Records: []seglog.Record{{Data: noisy}}})) }), 413},
		{"chunked body over the limit", with(func(r *request) {
			r.body = compress(t, body(t, seglog.Batch{Records: []seglog.Record{{Data: noisy}}}))
			r.chunked = true
		}), 413},
		{"decoded over the limit", with(func(r *request) { r.body = compress(t, bomb) }), 413},
		{"not zstd", with(func(r *request) { r.encoding = "gzip" }), 415},
		{"wrong content type", with(func(r *request) { r.ctype = "application/json" }), 415},
		{"garbage", with(func(r *request) { r.body = []byte("not zstd at all") }), 400},
		{"bad magic", with(func(r *request) { r.body = compress(t, append([]byte("XXXX"), good[4:]...)) }), 400},
		{"other version", with(func(r *request) { b := bytes.Clone(good); b[4] = 2; r.body = compress(t, b) }), 400},
		{"truncated", with(func(r *request) { r.body = compress(t, good[:len(good)-3]) }), 400},
		{"trailer miscounts", with(func(r *request) { r.body = compress(t, trailer) }), 400},
		{"bytes after the trailer", with(func(r *request) { r.body = compress(t, append(bytes.Clone(good), 0)) }), 400},
		{"reserved type", with(func(r *request) {
			r.body = compress(t, body(t, seglog.Batch{Records: []seglog.Record{{Type: GapType, Data: []byte("forged")}}}))
		}), 400},
		{"gap of no labels", with(func(r *request) {
			r.body = compress(t, body(t, seglog.Batch{Gaps: []seglog.Gap{{Count: 0}}}))
		}), 400},
		{"empty body", with(func(r *request) { r.body = nil }), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := post(t, hs.URL, c.req)
			if code != c.want {
				t.Fatalf("status %d (%s), want %d", code, strings.TrimSpace(msg), c.want)
			}
			if after := listing(t, root); after != before {
				t.Fatalf("a refused request changed the files:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("agent a has an inbox after refused requests only: %v", err)
	}
	// And the good request still works for both agents.
	if code, msg := post(t, hs.URL, with(func(*request) {})); code != 200 || !strings.Contains(msg, `"next":1`) {
		t.Fatalf("a good request after the refused ones got %d %s", code, msg)
	}
}

// TestTokensFile checks the tokens file format and its refusals.
func TestTokensFile(t *testing.T) {
	tok, err := ParseTokens(strings.NewReader("# agents\n\nalpha  "+secretA+"\n  beta\t"+secretB+"  \n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tok.Agent(secretB); !ok || id != "beta" {
		t.Fatalf("Agent(secretB) = %q, %v", id, ok)
	}
	if _, ok := tok.Agent("nope"); ok {
		t.Fatal("an unknown secret was accepted")
	}
	for _, bad := range []string{
		"",
		"alpha\n",
		"alpha " + secretA + " extra\n",
		"../x " + secretA + "\n",
		"alpha short\n",
		"alpha " + secretA + "\nbeta " + secretA + "\n",
		"alpha " + secretA + "\nalpha " + secretB + "\n",
	} {
		if _, err := ParseTokens(strings.NewReader(bad), "tokens"); err == nil {
			t.Errorf("tokens file %q accepted", bad)
		}
	}
}
