package store

import (
	"context"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestLifecycleOnAMissingTableIsUnavailable(t *testing.T) {
	s := New(NewLocalClient(dynalite.ForTest(t)), "no-such-table")
	ctx := context.Background()
	wrapped := envelope.WrappedKey{MasterKeyID: "k", Ciphertext: []byte{1}}
	card := vault.SealedRecord{
		Ref:    envelope.RecordRef{Type: envelope.RecordCard, MerchantID: "m", ID: "tok"},
		Sealed: []byte{1},
		Key:    cardPK("tok") + recordKeySep + cardSK,
	}
	secret := vault.SealedRecord{
		Ref:    envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: "m", ID: vault.SecretRecordID("n", 1)},
		Sealed: []byte{1},
		Key:    secretPK("m", "n") + recordKeySep + versionKey(1),
	}
	calls := map[string]error{
		"SetKeyState":       s.SetKeyState(ctx, "m", 1, envelope.KeyRetiring),
		"ReplaceWrapped":    s.ReplaceWrapped(ctx, "m", 1, wrapped, wrapped),
		"DestroyKey":        s.DestroyKey(ctx, "m", 1),
		"MarkShredded":      s.MarkShredded(ctx, "m", time.Now()),
		"SaveRotationState": s.SaveRotationState(ctx, vault.RotationState{MerchantID: "m"}),
		"ResealRecord":      s.ResealRecord(ctx, card, []byte{2}, 2),
		"DeleteRecord card": s.DeleteRecord(ctx, card),
		"DeleteRecord":      s.DeleteRecord(ctx, secret),
	}
	_, calls["Keys"] = s.Keys(ctx, "m")
	_, calls["Shredded"] = s.Shredded(ctx, "m")
	_, _, calls["Merchants"] = s.Merchants(ctx, "", 10)
	_, calls["RotationState"] = s.RotationState(ctx, "m")
	_, _, calls["RecordsBelow"] = s.RecordsBelow(ctx, "m", 2, "", 10)
	_, _, calls["RecordsOf"] = s.RecordsOf(ctx, "m", "", 10)
	_, calls["CountRecords"] = s.CountRecords(ctx, "m", 1)
	_, calls["WithClearFields"] = s.WithClearFields(ctx, card)
	for name, err := range calls {
		if code := vaulterr.CodeOf(err); code != vaulterr.Unavailable {
			t.Errorf("%s on a missing table: code %s (%v), want unavailable", name, code, err)
		}
	}
}
