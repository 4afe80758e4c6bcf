package wire

import (
	"os"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

// RegistrySource yields the client registry in force. It is asked on every
// request, so that a registry edit (a client added, a key revoked) takes
// effect without a restart.
type RegistrySource interface {
	Registry() (*Registry, error)
}

var (
	_ RegistrySource = staticRegistry{}
	_ RegistrySource = (*fileRegistry)(nil)
)

// StaticRegistry is a source that always yields r: for registries loaded
// once at start-up (Secrets Manager) and for tests.
func StaticRegistry(r *Registry) RegistrySource { return staticRegistry{r} }

type staticRegistry struct{ reg *Registry }

func (s staticRegistry) Registry() (*Registry, error) {
	if s.reg == nil {
		return nil, vaulterr.New(vaulterr.Unavailable, "client registry unavailable")
	}
	return s.reg, nil
}

// FileRegistry is a source reading the registry file at path, and reading
// it again whenever its modification time or size changes. A changed file
// that fails to parse is reported as an Unavailable error until it is
// fixed: silently serving the previous registry would keep a revoked client
// working with nobody noticing. Safe for concurrent use.
func FileRegistry(path string) RegistrySource {
	return &fileRegistry{doc: NewFileDocument(path, "client registry", ParseRegistry)}
}

type fileRegistry struct{ doc *FileDocument[*Registry] }

func (f *fileRegistry) Registry() (*Registry, error) { return f.doc.Load() }

// FileDocument follows an operator's configuration file (the client
// registry, the forward destinations): it parses the file on first use and
// again whenever its modification time or size changes, so an edit takes
// effect without a restart. A changed file that fails to parse is reported
// as an Unavailable error until it is fixed, never replaced by the
// previous version. Safe for concurrent use.
type FileDocument[T any] struct {
	path  string
	what  string
	parse func([]byte) (T, error)

	mu      sync.Mutex
	loaded  bool
	modTime time.Time
	size    int64
	val     T
	err     error
}

// NewFileDocument follows the file at path, parsed by parse; what names
// the document in errors ("client registry").
func NewFileDocument[T any](path, what string, parse func([]byte) (T, error)) *FileDocument[T] {
	return &FileDocument[T]{path: path, what: what, parse: parse}
}

// Load returns the document as the file holds it now.
func (f *FileDocument[T]) Load() (T, error) {
	var zero T
	info, err := os.Stat(f.path)
	if err != nil {
		return zero, vaulterr.Wrap(vaulterr.Unavailable, f.what+" unavailable", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loaded && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return f.val, f.err
	}
	// The stamp is taken before reading: if the file changes while it is
	// read, the next call sees a newer stamp and reads it again.
	f.loaded, f.modTime, f.size = true, info.ModTime(), info.Size()
	f.val, f.err = zero, nil
	doc, err := os.ReadFile(f.path)
	if err != nil {
		// Not remembered: a failed read may be transient, so try again.
		f.loaded = false
		return zero, vaulterr.Wrap(vaulterr.Unavailable, f.what+" unavailable", err)
	}
	val, err := f.parse(doc)
	if err != nil {
		f.err = vaulterr.Wrap(vaulterr.Unavailable, f.what+" unavailable", err)
		return zero, f.err
	}
	f.val = val
	return val, nil
}
