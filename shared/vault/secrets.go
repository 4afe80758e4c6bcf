package vault

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Limits of merchant secrets, per the contract where it sets them.
const (
	MaxSecretValueBytes = 32 << 10
	MaxMetadataEntries  = 32
	MaxMetadataKeyLen   = 128
	MaxMetadataValueLen = 1024
	// KeptSecretVersions is how many versions of a secret are kept: the
	// current one and the one before, so that a credential can be rolled
	// back, or read by a connector that has not caught up, until it is
	// overwritten twice. A put prunes while it writes, so a put that fails
	// may leave the current version alone.
	KeptSecretVersions = 2
)

// Bounds of the race between puts of one secret. A put numbers its
// version from the latest it read; a version that goes leaves a tombstone
// for SecretTombstoneLifetime, so that the conditional create of a put
// still holding a read from before that version existed fails on it
// instead of recreating a number later versions have passed.
const (
	// MaxSecretReadAge is the oldest a put's read of the latest version
	// may be when the put writes: past it the put reads again, and the
	// write itself is cut off (its context's deadline) at that age, SDK
	// retries included. Requests end sooner anyway (the API functions
	// time out after 10 s); this bound holds whatever the deployment.
	MaxSecretReadAge = time.Minute
	// SecretTombstoneLifetime is how long a tombstone is kept (its ttl,
	// from when the version went). It must outlast every put holding a
	// read from before: such a put read before the tombstone was made and
	// writes within MaxSecretReadAge of its read, so any lifetime above
	// MaxSecretReadAge closes the race; the sixty-fold margin covers clock
	// skew between containers and a write still in flight when its
	// context ended. DynamoDB deletes an item some time after its ttl,
	// never before; local mode's purger deletes it at its ttl.
	SecretTombstoneLifetime = time.Hour
	// putSecretAttempts bounds the retries of a put that keeps losing its
	// version number to concurrent puts of the same secret: each loss
	// means another put succeeded, so this many concurrent puts all
	// succeed.
	putSecretAttempts = 16
)

var secretName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ValidSecretName reports whether name fits the contract.
func ValidSecretName(name string) bool { return secretName.MatchString(name) }

// PutSecretInput is a put_secret request.
type PutSecretInput struct {
	Caller
	Name     string
	Value    secret.Secret[string]
	Metadata map[string]string
}

// SecretView is a secret's metadata: never its value.
type SecretView struct {
	MerchantID string
	Name       string
	Version    uint32
	Masked     string
	Metadata   map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Created is set by put_secret when there was no such secret before.
	Created bool
}

// RevealedSecret is a secret value on its way to be sealed for a client.
type RevealedSecret struct {
	MerchantID string
	Name       string
	Version    uint32
	Value      secret.Secret[string]
}

// SecretVault runs the secret operations that need keys.
type SecretVault struct {
	secrets   SecretStore
	replay    ReplayGuard
	merchants MerchantStatus
	keys      *envelope.Manager
	now       Clock
}

// NewSecretVault builds a SecretVault.
func NewSecretVault(secrets SecretStore, replay ReplayGuard, merchants MerchantStatus, keys *envelope.Manager, now Clock) *SecretVault {
	return &SecretVault{secrets: secrets, replay: replay, merchants: merchants, keys: keys, now: now}
}

func validateSecret(in PutSecretInput) error {
	value := in.Value.Reveal()
	if len(value) > MaxSecretValueBytes {
		return vaulterr.New(vaulterr.InvalidSecret, "value over 32 KiB")
	}
	if value == "" {
		return vaulterr.New(vaulterr.InvalidSecret, "value is empty")
	}
	if !utf8.ValidString(value) {
		return vaulterr.New(vaulterr.InvalidSecret, "value is not valid UTF-8")
	}
	if len(in.Metadata) > MaxMetadataEntries {
		return vaulterr.New(vaulterr.InvalidSecret, "metadata has more than 32 entries")
	}
	for k, v := range in.Metadata {
		if k == "" || len(k) > MaxMetadataKeyLen || len(v) > MaxMetadataValueLen {
			return vaulterr.New(vaulterr.InvalidSecret, "metadata keys must be 1 to 128 bytes and values at most 1024")
		}
	}
	return nil
}

// MaskSecret shows the last four characters of a value of at least 12
// characters, and none of a shorter one.
func MaskSecret(value string) string {
	n := utf8.RuneCountInString(value)
	if n < 12 {
		return "****"
	}
	runes := []rune(value)
	return "****" + string(runes[n-4:])
}

// PutSecret stores a new version of a merchant secret. It reads the
// latest version beside the shred mark and prunes beside the write, so a
// new secret or an overwrite costs three round trips on the warm path.
func (s *SecretVault) PutSecret(ctx context.Context, in PutSecretInput) (SecretView, Trace, error) {
	if !ValidSecretName(in.Name) {
		return SecretView{}, Trace{}, vaulterr.New(vaulterr.InvalidSecret, "name must be 1 to 128 of [A-Za-z0-9._-]")
	}
	if err := validateSecret(in); err != nil {
		return SecretView{}, Trace{}, err
	}
	// Reading the latest version this early is safe because a version
	// that goes leaves a tombstone (see SecretTombstoneLifetime): however
	// stale the read, the create below cannot land on a number a later
	// version has passed. Both are reads, so a refused request has still
	// changed nothing.
	var (
		head    SecretHead
		headErr error
	)
	readAt := time.Now()
	if err := CheckMerchantWith(ctx, s.merchants, in.MerchantID, func() error {
		head, headErr = s.secrets.SecretHead(ctx, in.MerchantID, in.Name)
		return headErr
	}); err != nil {
		return SecretView{}, Trace{}, err // refused before anything changed
	}
	now := s.now().UTC()
	if err := consume(ctx, s.replay, in.Caller, now); err != nil {
		return SecretView{}, Trace{}, err
	}
	keys, usage, err := s.keys.Primary(ctx, in.MerchantID)
	if err != nil {
		return SecretView{}, Trace{}, mapKeyError(err)
	}
	trace := Trace{KeyVersion: keys.Version()}
	trace.usedKeys(usage)
	value := []byte(in.Value.Reveal())
	defer secret.Wipe(value)

	for attempt := 0; attempt < putSecretAttempts; attempt++ {
		if attempt > 0 || time.Since(readAt) > MaxSecretReadAge/2 {
			// A lost create means a concurrent put took the number; a
			// read grown old (a slow key load) is read again rather than
			// written on near its bound.
			readAt = time.Now()
			head, headErr = s.secrets.SecretHead(ctx, in.MerchantID, in.Name)
		}
		if headErr != nil {
			return SecretView{}, trace, headErr
		}
		rec := SecretRecord{
			MerchantID: in.MerchantID,
			Name:       in.Name,
			Version:    head.Top + 1,
			KeyVersion: keys.Version(),
			Masked:     MaskSecret(in.Value.Reveal()),
			Metadata:   in.Metadata,
			CreatedAt:  now,
			UpdatedAt:  now,
		}
		if rec.Version == 0 {
			return SecretView{}, trace, vaulterr.New(vaulterr.InvalidSecret, "secret has no version numbers left")
		}
		if head.Live {
			rec.CreatedAt = head.Latest.CreatedAt
		}
		if rec.Sealed, err = keys.Seal(secretRef(rec), value); err != nil {
			return SecretView{}, trace, err
		}
		// The prune of the versions below the one this put replaces goes
		// out beside the write: those versions are served by no read
		// whatever the write's fate (only the latest live version is), and
		// their tombstones keep their numbers taken. Best effort: a
		// version a failed prune leaves behind is pruned by a later put.
		// A put whose write then fails has still pruned, and leaves the
		// current version alone (KeptSecretVersions).
		var prune func()
		if head.Live && head.Latest.Version >= KeptSecretVersions {
			keepFrom := head.Latest.Version - KeptSecretVersions + 2
			prune = func() { _ = s.secrets.PruneSecretVersions(ctx, in.MerchantID, in.Name, keepFrom) }
		}
		var writeErr error
		if prune == nil {
			writeErr = s.createWithin(ctx, readAt, rec)
		} else {
			inParallel(func() { writeErr = s.createWithin(ctx, readAt, rec) }, prune)
		}
		if errors.Is(writeErr, ErrConflict) {
			continue // a concurrent put took this version: take the next
		}
		if writeErr != nil {
			return SecretView{}, trace, writeErr
		}
		created := rec
		trace.Undo = func(ctx context.Context) error { return s.secrets.DeleteSecretVersion(ctx, created) }
		view := secretView(rec)
		view.Created = !head.Live
		return view, trace, nil
	}
	return SecretView{}, trace, vaulterr.New(vaulterr.Unavailable, "secret kept changing; retry")
}

// createWithin writes rec unless its read is MaxSecretReadAge old by the
// time the write would go, in which case it answers ErrConflict (read
// again); the write's context ends at that age, so no create, SDK retries
// included, is sent on an older read.
func (s *SecretVault) createWithin(ctx context.Context, readAt time.Time, rec SecretRecord) error {
	deadline := readAt.Add(MaxSecretReadAge)
	if !time.Now().Before(deadline) {
		return ErrConflict
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return s.secrets.CreateSecretVersion(wctx, rec)
}

// RevealSecret opens the latest version of a merchant secret.
func (s *SecretVault) RevealSecret(ctx context.Context, c Caller, name string) (RevealedSecret, Trace, error) {
	now := s.now().UTC()
	rec, err := latestSecret(ctx, s.secrets, s.merchants, c.MerchantID, name)
	if err != nil {
		return RevealedSecret{}, Trace{}, err
	}
	if err := consume(ctx, s.replay, c, now); err != nil {
		return RevealedSecret{}, Trace{}, err
	}
	trace := Trace{KeyVersion: rec.KeyVersion}
	value, err := openSecret(ctx, s.keys, &trace, c.MerchantID, name, rec)
	if err != nil {
		return RevealedSecret{}, trace, err
	}
	return RevealedSecret{MerchantID: c.MerchantID, Name: name, Version: rec.Version, Value: value}, trace, nil
}

// openSecret decrypts one version of a merchant secret with its clear
// fields in the AAD; reveal_secret and forward share it.
func openSecret(ctx context.Context, km *envelope.Manager, trace *Trace, merchantID, name string, rec SecretRecord) (secret.Secret[string], error) {
	version, err := envelope.KeyVersionOf(rec.Sealed)
	if err != nil || version != rec.KeyVersion {
		return secret.Secret[string]{}, integrityError()
	}
	keys, usage, err := km.Version(ctx, merchantID, version)
	trace.usedKeys(usage)
	if errors.Is(err, envelope.ErrNoKey) || errors.Is(err, envelope.ErrShredded) {
		return secret.Secret[string]{}, vaulterr.New(vaulterr.NotFound, "no such secret")
	}
	if err != nil {
		return secret.Secret[string]{}, err
	}
	if rec.MerchantID != merchantID || rec.Name != name {
		return secret.Secret[string]{}, integrityError()
	}
	plaintext, err := keys.Open(secretRef(rec), rec.Sealed)
	if err != nil {
		return secret.Secret[string]{}, integrityError()
	}
	value := string(plaintext)
	secret.Wipe(plaintext)
	return secret.New(value), nil
}

// SecretMetadata answers get_secret and delete_secret, which need no key:
// the function serving them holds no decrypt permission.
type SecretMetadata struct {
	secrets   SecretStore
	replay    ReplayGuard
	merchants MerchantStatus
	now       Clock
}

// NewSecretMetadata builds a SecretMetadata.
func NewSecretMetadata(secrets SecretStore, replay ReplayGuard, merchants MerchantStatus, now Clock) *SecretMetadata {
	return &SecretMetadata{secrets: secrets, replay: replay, merchants: merchants, now: now}
}

// GetSecret returns a secret's metadata and mask.
func (m *SecretMetadata) GetSecret(ctx context.Context, c Caller, name string) (SecretView, Trace, error) {
	rec, err := latestSecret(ctx, m.secrets, m.merchants, c.MerchantID, name)
	if err != nil {
		return SecretView{}, Trace{}, err
	}
	if err := consume(ctx, m.replay, c, m.now().UTC()); err != nil {
		return SecretView{}, Trace{}, err
	}
	return secretView(rec), Trace{KeyVersion: rec.KeyVersion}, nil
}

// DeleteSecret deletes every version of a secret.
func (m *SecretMetadata) DeleteSecret(ctx context.Context, c Caller, name string) (Trace, error) {
	if _, err := latestSecret(ctx, m.secrets, m.merchants, c.MerchantID, name); err != nil {
		return Trace{}, err
	}
	if err := consume(ctx, m.replay, c, m.now().UTC()); err != nil {
		return Trace{}, err
	}
	if err := c.witness(ctx, Trace{}); err != nil {
		return Trace{}, err
	}
	err := m.secrets.DeleteSecret(ctx, c.MerchantID, name)
	if errors.Is(err, ErrNotFound) {
		return Trace{}, vaulterr.New(vaulterr.NotFound, "no such secret")
	}
	return Trace{}, err
}

func latestSecret(ctx context.Context, secrets SecretStore, merchants MerchantStatus, merchantID, name string) (SecretRecord, error) {
	if !ValidSecretName(name) {
		return SecretRecord{}, vaulterr.New(vaulterr.NotFound, "no such secret")
	}
	// One round trip for both reads, as for cards (liveCard).
	var rec SecretRecord
	err := CheckMerchantWith(ctx, merchants, merchantID, func() (err error) {
		rec, err = secrets.LatestSecret(ctx, merchantID, name)
		if errors.Is(err, ErrNotFound) {
			return vaulterr.New(vaulterr.NotFound, "no such secret")
		}
		return err
	})
	return rec, err
}

func secretView(rec SecretRecord) SecretView {
	return SecretView{
		MerchantID: rec.MerchantID,
		Name:       rec.Name,
		Version:    rec.Version,
		Masked:     rec.Masked,
		Metadata:   rec.Metadata,
		CreatedAt:  rec.CreatedAt,
		UpdatedAt:  rec.UpdatedAt,
	}
}

// SecretRecordID is the record id of one version of a secret, bound into
// its AAD; names cannot hold "/", so the id is unambiguous.
func SecretRecordID(name string, version uint32) string {
	return name + "/" + strconv.FormatUint(uint64(version), 10)
}

// secretRef names a secret version and binds its clear fields.
func secretRef(rec SecretRecord) envelope.RecordRef {
	return envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: rec.MerchantID, ID: SecretRecordID(rec.Name, rec.Version), Clear: SecretClearFields(rec)}
}
