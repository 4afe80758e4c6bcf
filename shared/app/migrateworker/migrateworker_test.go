package migrateworker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestHandleRefusesWhatIsNotAnUploadOrAJobWorkEvent: an invocation that
// is neither an S3 event for uploads nor a continue-job request runs no
// job (the worker is never reached) and fails, so that Lambda reports it.
func TestHandleRefusesWhatIsNotAnUploadOrAJobWorkEvent(t *testing.T) {
	for name, input := range map[string]string{
		"not JSON":              `{"Records":`,
		"not an S3 event":       `{"Records": [{"s3": {"object": {"key": 7}}}]}`,
		"key not URL-encoded":   `{"Records": [{"s3": {"object": {"key": "uploads/%zz"}}}]}`,
		"object not an upload":  `{"Records": [{"s3": {"object": {"key": "results/job_1"}}}]}`,
		"unknown action":        `{"action": "rotate-due"}`,
		"work request not JSON": `["continue-job"]`,
	} {
		res, err := Handle(context.Background(), nil, json.RawMessage(input))
		if err == nil || !strings.HasPrefix(err.Error(), "migrate: ") || len(res.Jobs) != 0 {
			t.Errorf("%s: %+v, %v; want a refusal and no job run", name, res, err)
		}
	}
}
