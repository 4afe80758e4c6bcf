package vault

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/logging"
	"github.com/cardvault/vault/shared/vaulterr"
)

// KeyStatus is the contract's key status of a merchant.
type KeyStatus struct {
	MerchantID     string
	PrimaryVersion uint32
	Versions       []KeyVersionStatus
	Rotation       RotationStatus
}

// KeyVersionStatus is one stored key version.
type KeyVersionStatus struct {
	Version   uint32
	State     envelope.KeyState
	CreatedAt time.Time
	Records   int
}

// RotationStatus is the progress of re-encryption.
type RotationStatus struct {
	Running     bool
	StartedAt   time.Time
	Reencrypted int
	Remaining   int
}

// BackgroundWork starts work that outlives a request: re-encrypting a
// merchant's records after a rotation, and purging a shredded merchant's
// records. In AWS it asks the rotate-dek function (by an event); locally
// it runs in the server process.
type BackgroundWork interface {
	// Start starts req, an ActionContinueRotation or ActionPurgeMerchant
	// for one merchant, and returns once it is started (or, for one-shot
	// local commands, done).
	Start(ctx context.Context, req WorkRequest) error
}

// LifecycleOptions tune background re-encryption.
type LifecycleOptions struct {
	// PageSize is how many records one checkpointed step handles (default
	// 250).
	PageSize int
	// Workers re-encrypt a page's records concurrently (default 16).
	Workers int
	Logger  *slog.Logger
}

// KeyLifecycle runs rotate_keys, get_keys and shred_merchant, and the
// background work they start.
type KeyLifecycle struct {
	keys    *envelope.Manager
	life    *envelope.Lifecycle
	admin   envelope.KeyAdmin
	records RotationStore
	replay  ReplayGuard
	work    BackgroundWork
	auditor Auditor
	now     Clock
	opts    LifecycleOptions
	// settle is how long a process may keep sealing with an older primary
	// after a rotation; keyTTL how long it may hold any unwrapped key.
	settle, keyTTL time.Duration
}

// NewKeyLifecycle builds a KeyLifecycle.
func NewKeyLifecycle(keys *envelope.Manager, life *envelope.Lifecycle, admin envelope.KeyAdmin, records RotationStore,
	replay ReplayGuard, work BackgroundWork, auditor Auditor, now Clock, opts LifecycleOptions) *KeyLifecycle {
	if opts.PageSize <= 0 {
		opts.PageSize = 250
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Logger == nil {
		opts.Logger = logging.New(os.Stderr, slog.LevelInfo)
	}
	settle, keyTTL := keys.CacheTTLs()
	return &KeyLifecycle{keys: keys, life: life, admin: admin, records: records, replay: replay, work: work,
		auditor: auditor, now: now, opts: opts, settle: settle, keyTTL: keyTTL}
}

// SetBackgroundWork sets where background work is started (it often
// needs the lifecycle itself, so it is set after construction).
func (l *KeyLifecycle) SetBackgroundWork(w BackgroundWork) { l.work = w }

// admit lets a key request through: its merchant is not shredded, and
// its request id is spent (a replay changes nothing).
func (l *KeyLifecycle) admit(ctx context.Context, c Caller) error {
	if err := checkMerchant(ctx, l.admin, c.MerchantID); err != nil {
		return err
	}
	return consume(ctx, l.replay, c, l.now().UTC())
}

// RotateKeys makes a new primary version at once and starts moving older
// records to it in the background.
func (l *KeyLifecycle) RotateKeys(ctx context.Context, c Caller) (KeyStatus, Trace, error) {
	if err := l.admit(ctx, c); err != nil {
		return KeyStatus{}, Trace{}, err
	}
	// No witness here: the request's event names the new version and the
	// KMS calls that made it, so it is recorded after. A new version cannot
	// be taken back if that fails (this and other containers may already
	// seal with it), and needs no taking back: it holds no data, and older
	// versions are destroyed only once re-encryption has moved every
	// record, with events of its own.
	stored, usage, err := l.rotate(ctx, c.MerchantID)
	trace := Trace{KeyVersion: stored.Version}
	trace.usedKeys(usage)
	if err != nil {
		return KeyStatus{}, trace, err
	}
	if err := l.startWork(ctx, ActionContinueRotation, c.MerchantID); err != nil {
		// The scheduled run resumes any rotation left running; the
		// request has done its part.
		l.opts.Logger.WarnContext(ctx, "background re-encryption not started; the schedule will resume it", "merchant_id", c.MerchantID, "err", err)
	}
	status, err := l.Status(ctx, c.MerchantID)
	return status, trace, err
}

// Rotate makes a new primary version and records that a rotation to it
// is running.
func (l *KeyLifecycle) Rotate(ctx context.Context, merchantID string) (envelope.StoredKey, error) {
	stored, _, err := l.rotate(ctx, merchantID)
	return stored, err
}

func (l *KeyLifecycle) rotate(ctx context.Context, merchantID string) (envelope.StoredKey, envelope.Usage, error) {
	stored, usage, err := l.life.Rotate(ctx, merchantID)
	if err != nil {
		return stored, usage, mapKeyError(err)
	}
	if stored.Version == 1 {
		// The merchant had no keys: its first version has no records to
		// move.
		return stored, usage, nil
	}
	now := l.now().UTC()
	for attempt := 0; attempt < 5; attempt++ {
		st, err := l.records.RotationState(ctx, merchantID)
		if err != nil {
			return stored, usage, err
		}
		if st.Running && st.TargetVersion >= stored.Version {
			return stored, usage, nil // a concurrent rotation already recorded it
		}
		next := RotationState{MerchantID: merchantID, Running: true, TargetVersion: stored.Version,
			StartedAt: now, PassStartedAt: now, Revision: st.Revision}
		if st.Running {
			next.StartedAt = st.StartedAt
			next.Reencrypted = st.Reencrypted
		}
		err = l.records.SaveRotationState(ctx, next)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return stored, usage, err
		}
		l.record(ctx, audit.Event{Action: audit.ActionRotationStarted, Merchant: merchantID, KeyVersion: stored.Version, TargetVersion: stored.Version})
		return stored, usage, nil
	}
	return stored, usage, vaulterr.New(vaulterr.Unavailable, "rotation state kept changing; retry")
}

// GetKeys reports the merchant's key versions and rotation progress.
func (l *KeyLifecycle) GetKeys(ctx context.Context, c Caller) (KeyStatus, Trace, error) {
	if err := l.admit(ctx, c); err != nil {
		return KeyStatus{}, Trace{}, err
	}
	status, err := l.Status(ctx, c.MerchantID)
	return status, Trace{KeyVersion: status.PrimaryVersion}, err
}

// Status reads a merchant's key status.
func (l *KeyLifecycle) Status(ctx context.Context, merchantID string) (KeyStatus, error) {
	// The versions and the rotation state are read at once, then every
	// version's records are counted at once: two round trips in all.
	var (
		versions        []envelope.StoredKey
		st              RotationState
		keysErr, rotErr error
	)
	inParallel(
		func() { versions, keysErr = l.admin.Keys(ctx, merchantID) },
		func() { st, rotErr = l.records.RotationState(ctx, merchantID) },
	)
	if err := firstError(keysErr, rotErr); err != nil {
		return KeyStatus{}, err
	}
	counts := make([]int, len(versions))
	countErrs := make([]error, len(versions))
	counting := make([]func(), len(versions))
	for i, k := range versions {
		counting[i] = func() { counts[i], countErrs[i] = l.records.CountRecords(ctx, merchantID, k.Version) }
	}
	if len(counting) > 0 {
		inParallel(counting...)
	}
	if err := firstError(countErrs...); err != nil {
		return KeyStatus{}, err
	}
	status := KeyStatus{MerchantID: merchantID, Rotation: RotationStatus{Running: st.Running, StartedAt: st.StartedAt, Reencrypted: st.Reencrypted}}
	for i, k := range versions {
		n := counts[i]
		status.Versions = append(status.Versions, KeyVersionStatus{Version: k.Version, State: k.State, CreatedAt: k.CreatedAt, Records: n})
		if k.Version > status.PrimaryVersion {
			status.PrimaryVersion = k.Version
		}
		if st.Running && k.Version < st.TargetVersion {
			status.Rotation.Remaining += n
		}
	}
	// Newest first, as a reader looks for the primary.
	for i, j := 0, len(status.Versions)-1; i < j; i, j = i+1, j-1 {
		status.Versions[i], status.Versions[j] = status.Versions[j], status.Versions[i]
	}
	return status, nil
}

// ShredMerchant destroys every key of the merchant, then has its records
// purged in the background. From the moment it answers, nothing of the
// merchant can be decrypted, and its cards and secrets answer not_found.
func (l *KeyLifecycle) ShredMerchant(ctx context.Context, c Caller) (Trace, error) {
	if err := l.admit(ctx, c); err != nil {
		return Trace{}, err
	}
	if err := c.witness(ctx, Trace{}); err != nil {
		return Trace{}, err
	}
	if err := l.life.Shred(ctx, c.MerchantID, l.now().UTC()); err != nil {
		return Trace{}, err
	}
	l.record(ctx, audit.Event{Action: audit.ActionMerchantShredded, Merchant: c.MerchantID})
	if err := l.startWork(ctx, ActionPurgeMerchant, c.MerchantID); err != nil {
		l.opts.Logger.WarnContext(ctx, "purge of a shredded merchant not started; the schedule will resume it", "merchant_id", c.MerchantID, "err", err)
	}
	return Trace{}, nil
}

// ContinueRotation moves the merchant's records to the rotation's target
// version, a checkpointed page at a time, until every record is moved and
// the older versions are destroyed (done), or ctx ends (not done: call
// again to resume from the checkpoint). Several workers may run at once:
// the checkpoint is saved conditionally and a worker that loses the race
// stops.
func (l *KeyLifecycle) ContinueRotation(ctx context.Context, merchantID string) (done bool, err error) {
	target, err := l.targetKeys(ctx, merchantID)
	if err != nil || target == nil {
		return target == nil && err == nil, err
	}
	targetCreated, err := l.versionCreated(ctx, merchantID, target.Version())
	if err != nil {
		return false, err
	}
	for ctx.Err() == nil {
		st, err := l.records.RotationState(ctx, merchantID)
		if err != nil {
			return false, err
		}
		if !st.Running {
			return true, nil
		}
		if st.TargetVersion != target.Version() {
			// A newer rotation started: follow it.
			return l.ContinueRotation(ctx, merchantID)
		}
		if st.Cursor == "" && st.PassMoved == 0 && st.PassStartedAt.After(st.StartedAt) && st.PassStartedAt.Before(targetCreated.Add(l.settle)) {
			// The first pass runs at once and moves almost everything. A
			// pass that starts before every process has switched to the new
			// primary cannot prove the old versions unused, so the next one
			// waits until they have.
			if !sleepUntil(ctx, targetCreated.Add(l.settle), l.now) {
				return false, nil
			}
			st.PassStartedAt = l.now().UTC()
		}
		page, next, err := l.records.RecordsBelow(ctx, merchantID, target.Version(), st.Cursor, l.opts.PageSize)
		if err != nil {
			return false, err
		}
		moved, failed, err := l.reseal(ctx, merchantID, target, page)
		if err != nil {
			return false, err
		}
		st.Cursor = next
		st.Reencrypted += moved
		st.PassMoved += moved + failed
		if moved > 0 || failed > 0 {
			l.opts.Logger.InfoContext(ctx, "rotation page", "merchant_id", merchantID, "target_version", target.Version(),
				"moved", moved, "failed", failed, "reencrypted", st.Reencrypted)
			l.record(ctx, audit.Event{Action: audit.ActionRotationPage, Merchant: merchantID, TargetVersion: target.Version(), Records: moved})
		}
		if next == "" {
			finished, err := l.finishPass(ctx, &st, targetCreated)
			if err != nil || finished {
				return finished, err
			}
		}
		err = l.records.SaveRotationState(ctx, st)
		if errors.Is(err, ErrConflict) {
			return false, nil // another worker is on it
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// finishPass ends a complete pass: it either proves the older versions
// unused and destroys them, or starts another pass.
func (l *KeyLifecycle) finishPass(ctx context.Context, st *RotationState, targetCreated time.Time) (bool, error) {
	clean := st.PassMoved == 0 && !st.PassStartedAt.Before(targetCreated.Add(l.settle))
	if clean {
		remaining, err := l.countBelow(ctx, st.MerchantID, st.TargetVersion)
		if err != nil {
			return false, err
		}
		clean = remaining == 0
	}
	if !clean {
		st.Cursor, st.PassMoved, st.PassStartedAt = "", 0, l.now().UTC()
		return false, nil
	}
	// Destroy only once no process can still hold an older key in its
	// cache for sealing or opening.
	if !sleepUntil(ctx, targetCreated.Add(l.keyTTL), l.now) {
		return false, nil
	}
	versions, err := l.admin.Keys(ctx, st.MerchantID)
	if err != nil {
		return false, err
	}
	for _, k := range versions {
		if k.Version >= st.TargetVersion {
			continue
		}
		if err := l.life.Destroy(ctx, st.MerchantID, k.Version); err != nil {
			return false, err
		}
		l.record(ctx, audit.Event{Action: audit.ActionKeyVersionDestroyed, Merchant: st.MerchantID, KeyVersion: k.Version})
	}
	st.Running = false
	st.Cursor = ""
	if err := l.records.SaveRotationState(ctx, *st); err != nil {
		if errors.Is(err, ErrConflict) {
			return false, nil
		}
		return false, err
	}
	l.opts.Logger.InfoContext(ctx, "rotation finished", "merchant_id", st.MerchantID, "target_version", st.TargetVersion, "reencrypted", st.Reencrypted)
	l.record(ctx, audit.Event{Action: audit.ActionRotationFinished, Merchant: st.MerchantID, TargetVersion: st.TargetVersion, Records: st.Reencrypted})
	return true, nil
}

// reseal moves one page of records to the target version with a pool of
// workers. A record changed meanwhile (a newer write, a delete) is left
// alone; a record that fails authentication is counted as failed and
// stays on its old version, which then cannot be destroyed.
func (l *KeyLifecycle) reseal(ctx context.Context, merchantID string, target *envelope.MerchantKeys, page []SealedRecord) (moved, failed int, err error) {
	var (
		wg       sync.WaitGroup
		nMoved   atomic.Int64
		nFailed  atomic.Int64
		firstErr error
		errOnce  sync.Once
		jobs     = make(chan SealedRecord)
	)
	workers := min(l.opts.Workers, len(page))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				switch err := l.resealOne(ctx, merchantID, target, rec); {
				case err == nil:
					nMoved.Add(1)
				case errors.Is(err, ErrConflict):
				case vaulterr.CodeOf(err) == vaulterr.Integrity:
					nFailed.Add(1)
					l.opts.Logger.ErrorContext(ctx, "record failed authentication during rotation", "merchant_id", merchantID, "key_version", rec.KeyVersion)
				default:
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for _, rec := range page {
		jobs <- rec
	}
	close(jobs)
	wg.Wait()
	return int(nMoved.Load()), int(nFailed.Load()), firstErr
}

func (l *KeyLifecycle) resealOne(ctx context.Context, merchantID string, target *envelope.MerchantKeys, rec SealedRecord) error {
	if rec.Ref.MerchantID != merchantID {
		return vaulterr.New(vaulterr.Integrity, "record listed under another merchant")
	}
	version, err := envelope.KeyVersionOf(rec.Sealed)
	if err != nil || version != rec.KeyVersion {
		return integrityError()
	}
	// A format 2 record keeps the clear-field tag it was sealed with. A
	// format 1 record moves to format 2 here, bound to its clear fields as
	// they are now (nothing authenticated them before), which a listing
	// does not carry: they are read from the item.
	if format, _ := envelope.FormatOf(rec.Sealed); format == envelope.FormatUnbound {
		if rec, err = l.records.WithClearFields(ctx, rec); err != nil {
			return err
		}
	}
	old, _, err := l.keys.Version(ctx, merchantID, version)
	if err != nil {
		return mapKeyError(err)
	}
	sealed, err := target.Reseal(old, rec.Ref, rec.Sealed)
	if errors.Is(err, envelope.ErrOpen) {
		return integrityError()
	}
	if err != nil {
		return err
	}
	return l.records.ResealRecord(ctx, rec, sealed, target.Version())
}

func (l *KeyLifecycle) targetKeys(ctx context.Context, merchantID string) (*envelope.MerchantKeys, error) {
	st, err := l.records.RotationState(ctx, merchantID)
	if err != nil || !st.Running {
		return nil, err
	}
	keys, _, err := l.keys.Version(ctx, merchantID, st.TargetVersion)
	if errors.Is(err, envelope.ErrNoKey) || errors.Is(err, envelope.ErrShredded) {
		st.Running = false
		return nil, l.records.SaveRotationState(ctx, st)
	}
	return keys, err
}

func (l *KeyLifecycle) versionCreated(ctx context.Context, merchantID string, version uint32) (time.Time, error) {
	k, err := l.admin.KeyVersion(ctx, merchantID, version)
	if err != nil {
		return time.Time{}, mapKeyError(err)
	}
	return k.CreatedAt, nil
}

func (l *KeyLifecycle) countBelow(ctx context.Context, merchantID string, target uint32) (int, error) {
	versions, err := l.admin.Keys(ctx, merchantID)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, k := range versions {
		if k.Version >= target {
			continue
		}
		n, err := l.records.CountRecords(ctx, merchantID, k.Version)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// PurgeMerchant deletes a shredded merchant's records, a page at a time.
// Nothing in them can be decrypted any more; this reclaims the space.
func (l *KeyLifecycle) PurgeMerchant(ctx context.Context, merchantID string) (int, error) {
	shredded, err := l.admin.Shredded(ctx, merchantID)
	if err != nil || !shredded {
		return 0, err
	}
	total := 0
	cursor := ""
	for {
		page, next, err := l.records.RecordsOf(ctx, merchantID, cursor, l.opts.PageSize)
		if err != nil {
			return total, err
		}
		for _, rec := range page {
			if err := l.records.DeleteRecord(ctx, rec); err != nil {
				return total, err
			}
			total++
		}
		if next == "" || ctx.Err() != nil {
			break
		}
		cursor = next
	}
	if total > 0 {
		l.record(ctx, audit.Event{Action: audit.ActionRecordsPurged, Merchant: merchantID, Records: total})
	}
	return total, ctx.Err()
}

// record writes a background audit event; a failure is logged, not
// returned: the work itself is checkpointed and repeatable.
func (l *KeyLifecycle) record(ctx context.Context, e audit.Event) {
	if l.auditor == nil {
		return
	}
	e.ID = audit.NewID()
	e.Time = l.now().UTC()
	e.Outcome = audit.Allowed
	if err := l.auditor.Record(ctx, e); err != nil {
		l.opts.Logger.ErrorContext(ctx, "audit event not recorded", "action", e.Action, "merchant_id", e.Merchant, "err", err)
	}
}

// sleepUntil waits until t, or returns false if ctx ends (or its deadline
// falls) before then.
func sleepUntil(ctx context.Context, t time.Time, now Clock) bool {
	d := t.Sub(now())
	if d <= 0 {
		return true
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// mapKeyError turns key-store outcomes into contract codes.
func mapKeyError(err error) error {
	switch {
	case errors.Is(err, envelope.ErrShredded), errors.Is(err, envelope.ErrNoKey):
		return vaulterr.Wrap(vaulterr.NotFound, "no such merchant key", err)
	}
	return err
}

// MerchantStatus tells whether a merchant was shredded.
type MerchantStatus interface {
	Shredded(ctx context.Context, merchantID string) (bool, error)
}

// checkMerchant refuses every operation on a shredded merchant with
// not_found, whatever any process still has cached.
func checkMerchant(ctx context.Context, status MerchantStatus, merchantID string) error {
	shredded, err := status.Shredded(ctx, merchantID)
	if err != nil {
		return err
	}
	if shredded {
		return vaulterr.New(vaulterr.NotFound, "no such merchant")
	}
	return nil
}
