package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/vault"
)

// WorkDetailType is the detail-type of events asking rotate-dek for
// background work; a rule on the vault's bus sends their detail to it.
const WorkDetailType = "Card Vault Key Work Requested"

// EventWork starts background work in AWS by putting an event on the
// vault's bus, which a rule delivers to rotate-dek (InputPath $.detail).
// It needs only events:PutEvents, which every function has for audit.
type EventWork struct {
	Client audit.EventBridgeAPI
	Bus    string
}

var _ vault.BackgroundWork = EventWork{}

// Start implements vault.BackgroundWork: it puts req on the bus.
func (w EventWork) Start(ctx context.Context, req vault.WorkRequest) error {
	return putWorkEvent(ctx, w.Client, w.Bus, WorkDetailType, req, "work event")
}

// putWorkEvent puts one work event, detail as its JSON, on bus (the
// default bus when empty); rotation work and job work share it. what
// names the event in an error.
func putWorkEvent(ctx context.Context, client audit.EventBridgeAPI, bus, detailType string, detail any, what string) error {
	raw, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	entry := types.PutEventsRequestEntry{
		Source:     aws.String(audit.EventSource),
		DetailType: aws.String(detailType),
		Detail:     aws.String(string(raw)),
	}
	if bus != "" {
		entry.EventBusName = aws.String(bus)
	}
	out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	if err != nil {
		return err
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("%s refused: %s", what, aws.ToString(out.Entries[0].ErrorCode))
	}
	return nil
}
