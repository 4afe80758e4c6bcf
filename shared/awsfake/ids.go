package awsfake

import (
	"crypto/rand"
	"fmt"
)

// newUUID returns a random RFC 4122 version 4 identifier, the shape of KMS
// key ids and AWS request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newRequestID() string { return newUUID() }

// randomSuffix is the six characters Secrets Manager appends to a
// secret's name in its ARN.
func randomSuffix() string { return rand.Text()[:6] }
