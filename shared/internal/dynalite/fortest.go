package dynalite

import (
	"context"
	"os"
	"sync"
	"testing"
)

// shared is the one in-memory dynalite of a test binary: starting node per
// test would cost far more than the tests, and tests stay independent by
// using their own table names.
var shared struct {
	once   sync.Once
	server *Server
	err    error
}

// ForTest returns the endpoint of the test binary's dynalite, starting it
// on first use. A test that needs DynamoDB fails, never skips, when
// dynalite cannot start: a skipped storage test in CI would hide exactly the
// bugs it exists to catch.
func ForTest(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.server, shared.err = Start(context.Background(), "")
	})
	if shared.err != nil {
		t.Fatalf("this test needs dynalite, which could not start: %v", shared.err)
	}
	return shared.server.Endpoint
}

// Main runs the tests and then stops the shared dynalite, if any test
// started it. Use it as the whole of TestMain:
//
//	func TestMain(m *testing.M) { dynalite.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	// Do after Run orders this read after any test's start; once the
	// tests are over it never starts a server.
	shared.once.Do(func() {})
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil && code == 0 {
			_, _ = os.Stderr.WriteString(err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
