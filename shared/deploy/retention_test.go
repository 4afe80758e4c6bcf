package deploy_test

import (
	"testing"

	"github.com/cardvault/vault/shared/deploy"
)

// TestEveryLogGroupOutlivesTheStack holds every log group (functions', API
// access, audit) to the audit log group's policies: `sam delete` and a
// replacing update keep the lines, which PCI DSS 10.5.1 asks to keep for a
// year, and RetentionInDays (LogRetentionDays) alone ends them.
func TestEveryLogGroupOutlivesTheStack(t *testing.T) {
	groups := template(t).OfType("AWS::Logs::LogGroup")
	if len(groups) == 0 {
		t.Fatal("the template declares no log group")
	}
	for _, id := range sortedKeys(groups) {
		g := groups[id]
		if g.DeletionPolicy != "Retain" {
			t.Errorf("%s: DeletionPolicy %q, want Retain", id, g.DeletionPolicy)
		}
		if g.UpdateReplacePolicy != "Retain" {
			t.Errorf("%s: UpdateReplacePolicy %q, want Retain", id, g.UpdateReplacePolicy)
		}
		if !deploy.Refers(g.Prop("RetentionInDays"), "LogRetentionDays") {
			t.Errorf("%s: RetentionInDays must be !Ref LogRetentionDays, is %v", id, g.Prop("RetentionInDays"))
		}
	}
}
