package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// GenesisPrev is the prev of a chain's first line: 64 zeros.
var GenesisPrev = strings.Repeat("0", sha256.Size*2)

// hashMemberPrefix and hashMemberSuffix surround the hex hash that ends
// every chained line: ...,"hash":"<64 hex>"}
const (
	hashMemberPrefix = `,"hash":"`
	hashMemberSuffix = `"}`
	hashHexLen       = sha256.Size * 2
	hashMemberLen    = len(hashMemberPrefix) + hashHexLen + len(hashMemberSuffix)
)

// Link is the end of a chain: the last line's seq and hash. A new line
// carries Seq+1 and prev = Hash.
type Link struct {
	Seq  uint64
	Hash string
}

// genesis is the link before the first line.
func genesis() Link { return Link{Seq: 0, Hash: GenesisPrev} }

// canonical is the byte string a line's hash covers: the event (Seq and
// Prev set, Hash empty) encoded by encoding/json as one object, members in
// struct order, no insignificant whitespace, HTML escaping off, no
// trailing newline.
func canonical(e Event) ([]byte, error) {
	e.Hash = ""
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil { // #nosec G117 -- Secret is the secret's name, never its value
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// chainLine turns the canonical form into the line written to the file
// (newline included) and returns the line's hash. The hash member is
// spliced in before the closing brace, so the line is the canonical form
// plus one member, and a verifier can recover the canonical form by
// removing that member without re-encoding anything.
func chainLine(canon []byte) (line []byte, hash string) {
	sum := sha256.Sum256(canon)
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(canon)+hashMemberLen+1)
	line = append(line, canon[:len(canon)-1]...)
	line = append(line, hashMemberPrefix...)
	line = append(line, hash...)
	line = append(line, hashMemberSuffix...)
	line = append(line, '\n')
	return line, hash
}

// Reasons a single line cannot be read as a chained event.
var (
	errNoHashMember = errors.New("no trailing hash member: not a chained audit event")
	errHashMismatch = errors.New("hash mismatch: the line was edited")
)

// parseLine checks one line (without its newline) on its own: it must end
// with the hash member, the hash must be the SHA-256 of the rest, and the
// rest must decode as an event. It returns the event with Hash set.
func parseLine(line []byte) (Event, error) {
	n := len(line)
	if n == 0 {
		return Event{}, errors.New("blank line")
	}
	if n < hashMemberLen+2 || line[0] != '{' ||
		!bytes.Equal(line[n-hashMemberLen:n-hashMemberLen+len(hashMemberPrefix)], []byte(hashMemberPrefix)) ||
		!bytes.HasSuffix(line, []byte(hashMemberSuffix)) {
		return Event{}, errNoHashMember
	}
	hashHex := string(line[n-hashMemberLen+len(hashMemberPrefix) : n-len(hashMemberSuffix)])
	if !isLowerHex(hashHex) {
		return Event{}, errNoHashMember
	}
	canon := make([]byte, 0, n-hashMemberLen+1)
	canon = append(canon, line[:n-hashMemberLen]...)
	canon = append(canon, '}')
	sum := sha256.Sum256(canon)
	if hex.EncodeToString(sum[:]) != hashHex {
		return Event{}, errHashMismatch
	}
	// Unknown members are tolerated so that a reader older than the
	// writer still verifies the chain; the hash already covers them.
	var e Event
	if err := json.Unmarshal(canon, &e); err != nil {
		return Event{}, fmt.Errorf("not a valid event: %v", err)
	}
	if e.Hash != "" || e.Seq == 0 || !isLowerHex(e.Prev) || len(e.Prev) != hashHexLen {
		return Event{}, errors.New("not a valid chained event: seq, prev or hash member misplaced")
	}
	e.Hash = hashHex
	return e, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
