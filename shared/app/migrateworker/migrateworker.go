// Package migrateworker serves the migrate function: the job worker,
// started by an upload to the job files bucket (the bucket's event
// notification) and by job work events on the vault's bus. Only the
// migrate bootstrap (and the local tools that stand in for it) import it.
package migrateworker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/migrate"
)

// Run loads app.Migrate in AWS mode, with the parts its flags ask for
// (bucket.Files, importkeys.Ring), and serves it; it is the whole of the
// migrate function's main.
func Run(parts ...app.Part) {
	logger := app.NewLogger()
	c, err := app.LoadAWS(context.Background(), app.Migrate, parts...)
	var w *migrate.Worker
	if err == nil {
		w, err = c.Worker()
	}
	if err != nil {
		app.ColdStartFailed(logger, app.Migrate, err)
	}
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (Result, error) {
		return Handle(ctx, w, raw)
	})
}

// Result is what a migrate invocation did.
type Result struct {
	// Action is "upload" for an S3 event, else the work request's action.
	Action string            `json:"action"`
	Jobs   []migrate.Outcome `json:"jobs"`
}

// Handle runs the jobs an invocation names: the uploads of an S3 event
// notification, or the job of a work event.
func Handle(ctx context.Context, w *migrate.Worker, raw json.RawMessage) (Result, error) {
	res := Result{Action: "upload"}
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return res, fmt.Errorf("migrate: input is not JSON: %w", err)
	}
	var ids []string
	if probe.Records != nil {
		var ev events.S3Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return res, fmt.Errorf("migrate: not an S3 event: %w", err)
		}
		for _, r := range ev.Records {
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return res, fmt.Errorf("migrate: S3 event key is not URL-encoded")
			}
			id, ok := migrate.JobIDOfUpload(key)
			if !ok {
				return res, fmt.Errorf("migrate: S3 event for an object that is not an upload")
			}
			ids = append(ids, id)
		}
	} else {
		var req migrate.WorkRequest
		if err := json.Unmarshal(raw, &req); err != nil || req.Action != migrate.ActionContinueJob {
			return res, fmt.Errorf("migrate: unknown work request")
		}
		res.Action = req.Action
		ids = append(ids, req.JobID)
	}
	for _, id := range ids {
		out, err := w.Run(ctx, id)
		res.Jobs = append(res.Jobs, out)
		if err != nil {
			// Failing the invocation makes Lambda retry the event; the
			// job resumes from its checkpoint.
			return res, err
		}
	}
	return res, nil
}
