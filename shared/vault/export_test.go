package vault

import "context"

// VaultImported prepares and stores a batch of imported cards in one
// call, as the migrate worker does in two (PrepareImported while the
// batch before is stored, then StoreImported).
func (v *CardVault) VaultImported(ctx context.Context, merchantID string, format TokenFormat, rows []ImportedCard) ([]ImportedResult, error) {
	p, err := v.PrepareImported(ctx, merchantID, format, rows)
	if err != nil {
		return nil, err
	}
	return v.StoreImported(ctx, p)
}
