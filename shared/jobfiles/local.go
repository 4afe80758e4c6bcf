package jobfiles

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
)

// LocalPathPrefix is where the local server serves job files.
const LocalPathPrefix = "/v1/local-files/"

// MaxLocalUpload bounds a local upload, as S3 bounds one PUT (5 GiB).
const MaxLocalUpload = 5 << 30

// Local keeps job files in a directory and signs URLs for them the way
// S3 presigns: an HMAC-SHA256, under a key of the local server's own, of
// the method, the object key and the expiry. Whoever holds a URL may make
// that one request until it expires; nothing else is served.
type Local struct {
	dir     string
	key     []byte
	mu      sync.Mutex
	baseURL string
	now     func() time.Time
	// OnUpload, if set, is called after an upload is stored, as S3's event
	// notification starts the worker in AWS.
	OnUpload func(key string)
}

var _ migrate.Files = (*Local)(nil)

// NewLocal keeps files under dir, signing URLs with key for baseURL (the
// local server's http://host:port).
func NewLocal(dir string, key []byte, baseURL string, now func() time.Time) (*Local, error) {
	if len(key) < 32 {
		return nil, errors.New("jobfiles: URL signing key under 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	for _, sub := range []string{"uploads", "results"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	return &Local{dir: dir, key: key, baseURL: strings.TrimRight(baseURL, "/"), now: now}, nil
}

// LoadOrCreateURLKey reads the local URL signing key, making it on first
// start (owner-only).
func LoadOrCreateURLKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a path under the operator's VAULT_LOCAL_DIR
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- as above
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		return nil, err
	}
	return key, f.Close()
}

// validKey admits only the keys the jobs use: an uploads/ or results/
// object named by a job id (and a result suffix), nothing with a path.
func validKey(key string) bool {
	name, ok := strings.CutPrefix(key, migrate.UploadPrefix)
	if !ok {
		if name, ok = strings.CutPrefix(key, "results/"); !ok {
			return false
		}
		name, ok = strings.CutSuffix(name, ".csv.gpg")
		if !ok {
			name, ok = strings.CutSuffix(name, ".csv")
		}
		if !ok {
			return false
		}
	}
	return migrate.ValidJobID(name)
}

// SetBaseURL changes the address the URLs name.
func (f *Local) SetBaseURL(base string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.baseURL = strings.TrimRight(base, "/")
}

func (f *Local) base() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.baseURL
}

func (f *Local) path(key string) (string, bool) {
	if !validKey(key) {
		return "", false
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), true
}

func (f *Local) sign(method, key string, expires int64) string {
	m := hmac.New(sha256.New, f.key)
	_, _ = io.WriteString(m, method+"\n"+key+"\n"+strconv.FormatInt(expires, 10))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (f *Local) link(method, key string, ttl time.Duration) (migrate.Link, error) {
	if !validKey(key) {
		return migrate.Link{}, errors.New("jobfiles: not a job file key")
	}
	expires := f.now().Add(ttl).Truncate(time.Second)
	q := url.Values{"expires": {strconv.FormatInt(expires.Unix(), 10)}, "signature": {f.sign(method, key, expires.Unix())}}
	return migrate.Link{
		URL:       f.base() + LocalPathPrefix + key + "?" + q.Encode(),
		Method:    method,
		Headers:   map[string]string{},
		ExpiresAt: expires.UTC(),
	}, nil
}

// UploadLink implements migrate.Files.
func (f *Local) UploadLink(_ context.Context, key string, ttl time.Duration) (migrate.Link, error) {
	return f.link(http.MethodPut, key, ttl)
}

// DownloadLink implements migrate.Files.
func (f *Local) DownloadLink(_ context.Context, key string, ttl time.Duration) (migrate.Link, error) {
	return f.link(http.MethodGet, key, ttl)
}

// Open implements migrate.Files.
func (f *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, ok := f.path(key)
	if !ok {
		return nil, vault.ErrNotFound
	}
	file, err := os.Open(p) // #nosec G304 -- validKey admits job file names only
	if errors.Is(err, os.ErrNotExist) {
		return nil, vault.ErrNotFound
	}
	return file, err
}

// Put implements migrate.Files: written to a temporary name, then
// renamed, so a reader never sees half a file.
func (f *Local) Put(_ context.Context, key string, body io.Reader) error {
	p, ok := f.path(key)
	if !ok {
		return errors.New("jobfiles: not a job file key")
	}
	return writeFile(p, body, MaxLocalUpload)
}

func writeFile(p string, body io.Reader, limit int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(body, limit+1))
	if err == nil && n > limit {
		err = errors.New("jobfiles: file too large")
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Delete implements migrate.Files.
func (f *Local) Delete(_ context.Context, key string) error {
	p, ok := f.path(key)
	if !ok {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ServeHTTP serves signed URLs: PUT of an upload, GET of a result.
// Anything unsigned, expired, or signed for another method or key is
// 403, as S3 answers; errors carry no detail.
func (f *Local) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, LocalPathPrefix)
	p, ok := f.path(key)
	upload := strings.HasPrefix(key, migrate.UploadPrefix)
	if !ok || (r.Method == http.MethodPut) != upload || (r.Method != http.MethodPut && r.Method != http.MethodGet) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	want := f.sign(r.Method, key, expires)
	if err != nil || !hmac.Equal([]byte(q.Get("signature")), []byte(want)) || f.now().Unix() > expires {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		file, err := os.Open(p) // #nosec G304 -- validKey admits job file names only
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer file.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, file)
		return
	}
	if err := writeFile(p, http.MaxBytesReader(w, r.Body, MaxLocalUpload), MaxLocalUpload); err != nil {
		http.Error(w, "upload failed", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	if f.OnUpload != nil {
		f.OnUpload(key)
	}
}
