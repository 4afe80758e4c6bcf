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

// PutSecret stores a new version of a merchant secret.
func (s *SecretVault) PutSecret(ctx context.Context, in PutSecretInput) (SecretView, Trace, error) {
	if !ValidSecretName(in.Name) {
		return SecretView{}, Trace{}, vaulterr.New(vaulterr.InvalidSecret, "name must be 1 to 128 of [A-Za-z0-9._-]")
	}
	if err := validateSecret(in); err != nil {
		return SecretView{}, Trace{}, err
	}
	if err := checkMerchant(ctx, s.merchants, in.MerchantID); err != nil {
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

	for attempt := 0; attempt < 4; attempt++ {
		rec := SecretRecord{
			MerchantID: in.MerchantID,
			Name:       in.Name,
			Version:    1,
			KeyVersion: keys.Version(),
			Masked:     MaskSecret(in.Value.Reveal()),
			Metadata:   in.Metadata,
			CreatedAt:  now,
			UpdatedAt:  now,
		}
		// The latest version is read right before the write, never ahead
		// of it (beside the merchant check, say): a version number read
		// long before could be one a concurrent put has since created and
		// pruned (deleted), and recreating it would answer a version that
		// is never served.
		latest, latestErr := s.secrets.LatestSecret(ctx, in.MerchantID, in.Name)
		switch {
		case latestErr == nil:
			rec.Version = latest.Version + 1
			rec.CreatedAt = latest.CreatedAt
		case !errors.Is(latestErr, ErrNotFound):
			return SecretView{}, trace, latestErr
		}
		var err error
		if rec.Sealed, err = keys.Seal(secretRef(rec), value); err != nil {
			return SecretView{}, trace, err
		}
		err = s.secrets.CreateSecretVersion(ctx, rec)
		if errors.Is(err, ErrConflict) {
			continue // a concurrent put took this version: take the next
		}
		if err != nil {
			return SecretView{}, trace, err
		}
		if rec.Version > KeptSecretVersions {
			// The versions before the one replaced go once the new one is
			// written, not beside the write: a concurrent put that read no
			// version yet could otherwise recreate a version number the
			// prune just freed. Best effort: a version left behind by a
			// failure here is pruned by the next put, and is never served
			// (only the latest is).
			_ = s.secrets.PruneSecretVersions(ctx, in.MerchantID, in.Name, rec.Version-KeptSecretVersions+1)
		}
		created := rec
		trace.Undo = func(ctx context.Context) error { return s.secrets.DeleteSecretVersion(ctx, created) }
		view := secretView(rec)
		view.Created = rec.Version == 1
		return view, trace, nil
	}
	return SecretView{}, trace, vaulterr.New(vaulterr.Unavailable, "secret kept changing; retry")
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
	var (
		rec         SecretRecord
		err, merErr error
	)
	inParallel(
		func() { merErr = checkMerchant(ctx, merchants, merchantID) },
		func() { rec, err = secrets.LatestSecret(ctx, merchantID, name) },
	)
	if merErr != nil {
		return SecretRecord{}, merErr
	}
	if errors.Is(err, ErrNotFound) {
		return SecretRecord{}, vaulterr.New(vaulterr.NotFound, "no such secret")
	}
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
