package deploy_test

import (
	"testing"

	"github.com/cardvault/vault/shared/deploy"
)

// asyncEventTypes are the SAM event sources that invoke a function
// asynchronously: a failure there is retried by Lambda, then dropped
// unless the function has an on-failure destination.
var asyncEventTypes = map[string]bool{
	"EventBridgeRule": true, "CloudWatchEvent": true, "Schedule": true, "ScheduleV2": true, "SNS": true, "S3": true,
}

// grants reports whether one of the statements allows action on the
// resource named id.
func grants(stmts []deploy.Statement, action, id string) bool {
	for _, st := range stmts {
		if st.Effect != "Allow" || !st.HasAction(action) {
			continue
		}
		for _, r := range st.Resources {
			if deploy.Refers(r, id) {
				return true
			}
		}
	}
	return false
}

// queueOf checks that v is !GetAtt <queue>.Arn of a KMS-encrypted queue
// of the template (its key a customer-managed key of the template, so its
// policy can admit exactly the senders), and returns the queue and key.
func queueOf(t *testing.T, where string, v any) (queue, key string) {
	t.Helper()
	tpl := template(t)
	id, attr, ok := deploy.GetAttTarget(v)
	if !ok || attr != "Arn" || tpl.Resources[id].Type != "AWS::SQS::Queue" {
		t.Errorf("%s: dead-letter destination %v is not !GetAtt <queue>.Arn", where, v)
		return "", ""
	}
	keyID, keyAttr, ok := deploy.GetAttTarget(tpl.Resources[id].Prop("KmsMasterKeyId"))
	if !ok || keyAttr != "Arn" || tpl.Resources[keyID].Type != deploy.TypeKMSKey {
		t.Errorf("%s: queue %s is not encrypted with a KMS key of the template (KmsMasterKeyId %v)", where, id, tpl.Resources[id].Prop("KmsMasterKeyId"))
		return id, ""
	}
	if tpl.Resources[keyID].Prop("EnableKeyRotation") != true {
		t.Errorf("%s: key %s must rotate", where, keyID)
	}
	return id, keyID
}

// canSend: the role may send to the queue, and use its key.
func canSend(t *testing.T, who string, stmts []deploy.Statement, queue, key string) {
	t.Helper()
	if !grants(stmts, "sqs:SendMessage", queue) {
		t.Errorf("%s cannot sqs:SendMessage to %s", who, queue)
	}
	for _, a := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
		if key != "" && !grants(stmts, a, key) {
			t.Errorf("%s lacks %s on %s, which SQS needs of a sender to an encrypted queue", who, a, key)
		}
	}
}

// eventBridgeMaySend: the queue's policy and its key's policy admit
// EventBridge for exactly this rule.
func eventBridgeMaySend(t *testing.T, rule, queue, key string) {
	t.Helper()
	tpl := template(t)
	fromRule := func(st deploy.Statement) bool {
		principal, _ := st.Principal["Service"].(string)
		return principal == "events.amazonaws.com" && deploy.Refers(st.Condition["ArnEquals"]["aws:SourceArn"], rule)
	}
	queueOK := false
	for _, p := range tpl.OfType("AWS::SQS::QueuePolicy") {
		queues := deploy.List(p.Prop("Queues"))
		if len(queues) != 1 || !deploy.Refers(queues[0], queue) {
			continue
		}
		stmts, err := deploy.PolicyStatements(queue+" policy", p.Prop("PolicyDocument"))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			if st.Effect == "Allow" && st.HasAction("sqs:SendMessage") && fromRule(st) {
				queueOK = true
			}
		}
	}
	if !queueOK {
		t.Errorf("no queue policy of %s lets events.amazonaws.com send for rule %s (aws:SourceArn)", queue, rule)
	}
	if key == "" {
		return
	}
	stmts, err := deploy.PolicyStatements(key, tpl.Resources[key].Prop("KeyPolicy"))
	if err != nil {
		t.Fatal(err)
	}
	keyOK := false
	for _, st := range stmts {
		if st.Effect == "Allow" && st.HasAction("kms:GenerateDataKey") && st.HasAction("kms:Decrypt") && fromRule(st) {
			keyOK = true
		}
	}
	if !keyOK {
		t.Errorf("%s's policy does not let events.amazonaws.com encrypt for rule %s", key, rule)
	}
}

// alarmedDepth: an alarm watches the queue's visible messages.
func alarmedDepth(t *testing.T, queue string) {
	t.Helper()
	for _, a := range template(t).OfType("AWS::CloudWatch::Alarm") {
		if a.Prop("Namespace") != "AWS/SQS" || a.Prop("MetricName") != "ApproximateNumberOfMessagesVisible" {
			continue
		}
		for _, d := range deploy.List(a.Prop("Dimensions")) {
			dm, _ := d.(map[string]any)
			if id, attr, ok := deploy.GetAttTarget(dm["Value"]); ok && id == queue && attr == "QueueName" && len(deploy.List(a.Prop("AlarmActions"))) > 0 {
				return
			}
		}
	}
	t.Errorf("no alarm with actions watches the depth of %s", queue)
}

// TestAsynchronousInvocationsHaveAnEncryptedDeadLetterQueue holds every
// asynchronous way into a function (SAM events, Scheduler schedules) to
// an on-failure destination: an invocation that fails every retry, or that
// EventBridge or the Scheduler cannot deliver, goes to a KMS-encrypted SQS
// queue with an alarm on its depth, and every sender may send there.
func TestAsynchronousInvocationsHaveAnEncryptedDeadLetterQueue(t *testing.T) {
	tpl := template(t)
	asyncFunctions := map[string]bool{}
	for _, name := range sortedKeys(functions(t)) {
		id := deploy.FunctionLogicalID(name)
		events, _ := functionResource(t, name).Prop("Events").(map[string]any)
		for evName, raw := range events {
			ev, _ := raw.(map[string]any)
			typ, _ := ev["Type"].(string)
			if !asyncEventTypes[typ] {
				continue
			}
			asyncFunctions[name] = true
			props, _ := ev["Properties"].(map[string]any)
			where := id + " event " + evName
			if typ == "S3" {
				// S3 invokes the function asynchronously and keeps nothing
				// of a failed delivery: the function's own OnFailure
				// destination (checked below) is its dead-letter queue.
				continue
			}
			if typ != "EventBridgeRule" {
				t.Errorf("%s: %s events are not checked here; give them a dead-letter queue and a check", where, typ)
				continue
			}
			retry, _ := props["RetryPolicy"].(map[string]any)
			if retry["MaximumRetryAttempts"] == nil {
				t.Errorf("%s: no RetryPolicy", where)
			}
			dlc, _ := props["DeadLetterConfig"].(map[string]any)
			queue, key := queueOf(t, where, dlc["Arn"])
			if queue == "" {
				continue
			}
			// SAM names the rule <function id><event name>.
			eventBridgeMaySend(t, id+evName, queue, key)
			alarmedDepth(t, queue)
		}
	}
	for id, sched := range tpl.OfType("AWS::Scheduler::Schedule") {
		target := sched.Prop("Target", "Arn")
		for _, name := range sortedKeys(functions(t)) {
			if deploy.Refers(target, deploy.FunctionLogicalID(name)) {
				asyncFunctions[name] = true
			}
		}
		if sched.Prop("Target", "RetryPolicy", "MaximumRetryAttempts") == nil {
			t.Errorf("%s: target has no RetryPolicy", id)
		}
		queue, key := queueOf(t, id+" target", sched.Prop("Target", "DeadLetterConfig", "Arn"))
		if queue == "" {
			continue
		}
		roleID, attr, ok := deploy.GetAttTarget(sched.Prop("Target", "RoleArn"))
		if !ok || attr != "Arn" {
			t.Errorf("%s: target RoleArn must be !GetAtt <role>.Arn", id)
			continue
		}
		stmts, err := deploy.RoleStatements(roleID, tpl.Resources[roleID])
		if err != nil {
			t.Fatal(err)
		}
		// The Scheduler sends dead letters as the schedule's role.
		canSend(t, roleID, stmts, queue, key)
		alarmedDepth(t, queue)
	}
	if !asyncFunctions["rotate-dek"] {
		t.Fatal("rotate-dek has no asynchronous entry point; this test checks nothing")
	}
	for _, name := range sortedKeys(asyncFunctions) {
		fn := functionResource(t, name)
		if got := fn.Prop("EventInvokeConfig", "DestinationConfig", "OnFailure", "Type"); got != "SQS" {
			t.Errorf("%s is invoked asynchronously but has no SQS OnFailure destination (Type %v)", name, got)
			continue
		}
		if fn.Prop("EventInvokeConfig", "MaximumRetryAttempts") == nil {
			t.Errorf("%s: EventInvokeConfig must bound its retries", name)
		}
		queue, key := queueOf(t, name+" OnFailure", fn.Prop("EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"))
		if queue == "" {
			continue
		}
		// Lambda sends to the destination as the function's role.
		_, stmts := roleOf(t, name)
		canSend(t, name, stmts, queue, key)
		alarmedDepth(t, queue)
	}
	// Least privilege: only those senders hold SQS actions at all.
	for _, name := range sortedKeys(functions(t)) {
		_, stmts := roleOf(t, name)
		for _, st := range stmts {
			for _, a := range st.ActionsOf("sqs") {
				if !asyncFunctions[name] || a != "sqs:SendMessage" {
					t.Errorf("%s: %s allows %s", name, st.Where, a)
				}
			}
		}
	}
}
