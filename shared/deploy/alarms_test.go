package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/deploy"
)

// awsPublished are the dimension sets with which AWS publishes each metric
// the template alarms on, from the services' CloudWatch documentation. A
// metric exists only for exactly one of these sets: an alarm naming any
// other set watches a metric nobody publishes, and never fires.
//
//   - AWS/Lambda Errors, Throttles: none (the account), FunctionName,
//     FunctionName+Resource (a version or alias), FunctionName+ExecutedVersion.
//   - AWS/Events FailedInvocations: RuleName for a rule on the default
//     bus, EventBusName+RuleName for a rule on a custom bus.
//   - AWS/SQS ApproximateNumberOfMessagesVisible: QueueName.
//   - AWS/ApiGateway 5xx (HTTP APIs; REST APIs publish 5XXError by
//     ApiName): ApiId, ApiId+Stage, ApiId+Stage+Route (detailed metrics).
//
// Metrics in the vault's own namespace come from the template's log metric
// filters, with the dimensions each filter names (publishedByFilters).
var awsPublished = map[string][][]string{
	"AWS/Lambda Errors":                          lambdaDimensions,
	"AWS/Lambda Throttles":                       lambdaDimensions,
	"AWS/Events FailedInvocations":               {{"RuleName"}, {"EventBusName", "RuleName"}},
	"AWS/SQS ApproximateNumberOfMessagesVisible": {{"QueueName"}},
	"AWS/ApiGateway 5xx":                         {{"ApiId"}, {"ApiId", "Stage"}, {"ApiId", "Stage", "Route"}},
}

var lambdaDimensions = [][]string{{}, {"FunctionName"}, {"FunctionName", "Resource"}, {"FunctionName", "ExecutedVersion"}}

// publishedByFilters are the metrics the template's log metric filters
// publish: "namespace metric" -> dimension sets.
func publishedByFilters(t *testing.T) map[string][][]string {
	t.Helper()
	out := map[string][][]string{}
	for id, f := range template(t).OfType("AWS::Logs::MetricFilter") {
		for _, raw := range deploy.List(f.Prop("MetricTransformations")) {
			mt, _ := raw.(map[string]any)
			ns, _ := mt["MetricNamespace"].(string)
			name, _ := mt["MetricName"].(string)
			if ns == "" || name == "" || strings.HasPrefix(ns, "AWS/") {
				t.Errorf("%s: metric transformation %v must name a namespace of the vault's and a metric", id, mt)
				continue
			}
			var set []string
			for _, d := range deploy.List(mt["Dimensions"]) {
				dm, _ := d.(map[string]any)
				key, _ := dm["Key"].(string)
				set = append(set, key)
			}
			slices.Sort(set)
			key := ns + " " + name
			if !slices.ContainsFunc(out[key], func(s []string) bool { return slices.Equal(s, set) }) {
				out[key] = append(out[key], set)
			}
		}
	}
	return out
}

// TestEveryAlarmWatchesAPublishedMetric checks each alarm's namespace,
// metric and dimension names against what AWS (or a metric filter of the
// template) publishes, and each dimension's value against the resource it
// must name.
func TestEveryAlarmWatchesAPublishedMetric(t *testing.T) {
	tpl := template(t)
	filters := publishedByFilters(t)
	alarms := tpl.OfType("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("the template declares no alarm")
	}
	for _, id := range sortedKeys(alarms) {
		a := alarms[id]
		ns, _ := a.Prop("Namespace").(string)
		metric, _ := a.Prop("MetricName").(string)
		if ns == "" || metric == "" {
			t.Errorf("%s: an alarm on one metric must name Namespace and MetricName (metric math is not checked here)", id)
			continue
		}
		dims := map[string]any{}
		var names []string
		for _, d := range deploy.List(a.Prop("Dimensions")) {
			dm, _ := d.(map[string]any)
			name, _ := dm["Name"].(string)
			dims[name] = dm["Value"]
			names = append(names, name)
		}
		slices.Sort(names)
		key := ns + " " + metric
		sets, known := awsPublished[key]
		if !strings.HasPrefix(ns, "AWS/") {
			sets, known = filters[key]
		}
		if !known {
			t.Errorf("%s: %s is not a metric this test knows to be published; add what AWS publishes it with", id, key)
			continue
		}
		if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, names) }) {
			t.Errorf("%s: %s is published with dimensions %v, not %v: the alarm can never fire", id, key, sets, names)
			continue
		}
		for _, name := range names {
			if err := checkDimension(tpl, name, dims[name], dims); err != nil {
				t.Errorf("%s: dimension %s: %v", id, name, err)
			}
		}
	}
}

// checkDimension checks that a dimension's value names a resource of the
// kind the dimension is about, and that the dimensions agree.
func checkDimension(tpl *deploy.Template, name string, value any, all map[string]any) error {
	typeOf := func(id string) string { return tpl.Resources[id].Type }
	switch name {
	case "FunctionName":
		id, ok := deploy.RefTarget(value)
		if !ok || (typeOf(id) != deploy.TypeFunction && typeOf(id) != "AWS::Lambda::Function") {
			return fmt.Errorf("%v is not !Ref of a function", value)
		}
	case "ApiId":
		id, ok := deploy.RefTarget(value)
		if !ok || (typeOf(id) != "AWS::Serverless::HttpApi" && typeOf(id) != "AWS::ApiGatewayV2::Api") {
			return fmt.Errorf("%v is not !Ref of an HTTP API", value)
		}
	case "Stage":
		if s, ok := value.(string); !ok || s == "" {
			return fmt.Errorf("%v is not a stage name", value)
		}
	case "QueueName":
		id, attr, ok := deploy.GetAttTarget(value)
		if !ok || attr != "QueueName" || typeOf(id) != "AWS::SQS::Queue" {
			return fmt.Errorf("%v is not !GetAtt <queue>.QueueName", value)
		}
	case "EventBusName":
		id, ok := deploy.RefTarget(value)
		if !ok || typeOf(id) != "AWS::Events::EventBus" {
			return fmt.Errorf("%v is not !Ref of an event bus", value)
		}
	case "RuleName":
		rule, onCustomBus, err := ruleOf(tpl, value)
		if err != nil {
			return err
		}
		bus, named := all["EventBusName"]
		switch {
		case onCustomBus && !named:
			return fmt.Errorf("rule %s is on a custom bus, whose rules' metrics carry EventBusName too", rule)
		case !onCustomBus && named:
			return fmt.Errorf("rule %s is on the default bus, whose rules' metrics carry RuleName alone", rule)
		case named && !deploy.Refers(tpl.Resources[rule].Prop("EventBusName"), mustRef(bus)):
			return fmt.Errorf("EventBusName %v is not the bus of rule %s", bus, rule)
		}
	default:
		return fmt.Errorf("no check for this dimension")
	}
	return nil
}

// ruleOf reads a RuleName value: !Ref of a rule on the default bus (whose
// Ref is its name), or the name part of a custom-bus rule's Ref
// ("bus|rule"): !Select [1, !Split ["|", !Ref rule]].
func ruleOf(tpl *deploy.Template, value any) (id string, onCustomBus bool, err error) {
	isRule := func(id string) bool { return tpl.Resources[id].Type == "AWS::Events::Rule" }
	customBus := func(id string) bool {
		bus := tpl.Resources[id].Prop("EventBusName")
		return bus != nil && bus != "default"
	}
	if id, ok := deploy.RefTarget(value); ok && isRule(id) {
		if customBus(id) {
			return id, true, fmt.Errorf("!Ref %s is \"bus|rule\" for a rule on a custom bus; select the name", id)
		}
		return id, false, nil
	}
	m, _ := value.(map[string]any)
	sel, _ := m["Fn::Select"].([]any)
	if len(sel) == 2 {
		split, _ := sel[1].(map[string]any)
		args, _ := split["Fn::Split"].([]any)
		if idx, _ := sel[0].(int64); idx == 1 && len(args) == 2 && args[0] == "|" {
			if id, ok := deploy.RefTarget(args[1]); ok && isRule(id) && customBus(id) {
				return id, true, nil
			}
		}
	}
	return "", false, fmt.Errorf("%v names no rule of the template", value)
}

// mustRef is the resource a !Ref names ("" if value is not one).
func mustRef(value any) string {
	id, _ := deploy.RefTarget(value)
	return id
}
