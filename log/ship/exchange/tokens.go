package exchange

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// MinSecretLen is the shortest agent secret accepted.
const MinSecretLen = 16

var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckAgentID returns an error unless id is safe as a directory name on
// every system: 1 to 128 ASCII letters, digits, '.', '_' and '-', starting
// with a letter or digit (so never "." or ".." and never hidden).
func CheckAgentID(id string) error {
	if !agentIDPattern.MatchString(id) {
		return fmt.Errorf("agent id %q is not a safe name (1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)", id)
	}
	return nil
}

// Tokens maps agents' secrets to their ids. Secrets are kept only as
// SHA-256 digests, so that looking one up takes the same time whatever
// the secret shares with another.
type Tokens struct {
	byDigest map[[sha256.Size]byte]string
}

// NewTokens returns the tokens of secrets, a map from agent id to secret.
// Ids must pass CheckAgentID; secrets must be at least MinSecretLen
// bytes, without white space, and distinct.
func NewTokens(secrets map[string]string) (*Tokens, error) {
	t := &Tokens{byDigest: make(map[[sha256.Size]byte]string, len(secrets))}
	for id, secret := range secrets {
		if err := t.add(id, secret); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Tokens) add(id, secret string) error {
	if err := CheckAgentID(id); err != nil {
		return err
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("agent %s: secret of %d bytes (at least %d)", id, len(secret), MinSecretLen)
	}
	if strings.ContainsAny(secret, " \t\r\n") {
		return fmt.Errorf("agent %s: secret holds white space", id)
	}
	d := sha256.Sum256([]byte(secret))
	if other, ok := t.byDigest[d]; ok {
		return fmt.Errorf("agents %s and %s have the same secret", other, id)
	}
	for _, other := range t.byDigest {
		if other == id {
			return fmt.Errorf("agent %s named twice", id)
		}
	}
	t.byDigest[d] = id
	return nil
}

// ParseTokens reads a tokens file: one line per agent, "NAME SECRET"
// separated by white space; blank lines and lines starting with '#' are
// skipped. name names the file in errors.
func ParseTokens(r io.Reader, name string) (*Tokens, error) {
	t := &Tokens{byDigest: map[[sha256.Size]byte]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want NAME SECRET, got %d fields", name, n, len(f))
		}
		if err := t.add(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.byDigest) == 0 {
		return nil, fmt.Errorf("%s: no agents", name)
	}
	return t, nil
}

// Agent returns the agent whose secret is token.
func (t *Tokens) Agent(token string) (string, bool) {
	if t == nil || token == "" {
		return "", false
	}
	id, ok := t.byDigest[sha256.Sum256([]byte(token))]
	return id, ok
}

// Len returns the number of agents.
func (t *Tokens) Len() int { return len(t.byDigest) }

// ReadSecret reads an agent's secret from a file holding just it (white
// space around it is ignored).
func ReadSecret(r io.Reader, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	switch {
	case s == "":
		return "", fmt.Errorf("%s: empty", name)
	case strings.ContainsAny(s, " \t\r\n"):
		return "", errors.New(name + ": want the secret alone, found white space in it")
	}
	return s, nil
}
