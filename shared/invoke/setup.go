package invoke

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/app"
)

// Demo data of the setup steps: a test card number (Luhn-valid, the
// networks' public test range) and a secret value that is obviously not a
// real credential. The card number and the secret's name are exported for
// the stand-ins that receive them (a forward destination naming the secret
// as its credential).
const (
	DemoCardNumber  = "4242424242424242"
	demoHolder      = "Demo Holder"
	demoCustomer    = "c_demo"
	DemoSecretName  = "demo_connector_key"
	demoSecretValue = "sk_test_demo_not_a_real_key_0000" // #nosec G101 -- a labelled demo value for local runs, not a credential
)

// vaultDemoCard vaults the demo card for merchant through the vault-card
// function and returns its token and fingerprint.
func (iv *Invoker) vaultDemoCard(ctx context.Context, merchant string) (token, fingerprint string, err error) {
	claims := map[string]any{
		"customer_id": demoCustomer,
		"card": map[string]any{
			"number":      DemoCardNumber,
			"exp_month":   12,
			"exp_year":    time.Now().Year() + 3,
			"holder_name": demoHolder,
		},
	}
	var answer struct {
		Token       string `json:"token"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := iv.setupCall(ctx, "vault-card", "POST /v1/cards", "/v1/cards", nil, "vault_card", merchant, claims, &answer); err != nil {
		return "", "", err
	}
	if answer.Token == "" || answer.Fingerprint == "" {
		return "", "", fmt.Errorf("vault-card answered without a token or fingerprint")
	}
	return answer.Token, answer.Fingerprint, nil
}

// putDemoSecret puts the demo secret for merchant through the put-secret
// function and returns its name.
func (iv *Invoker) putDemoSecret(ctx context.Context, merchant string) (string, error) {
	params := map[string]string{"merchant_id": merchant, "name": DemoSecretName}
	path := "/v1/merchants/" + merchant + "/secrets/" + DemoSecretName
	claims := map[string]any{
		"name":     DemoSecretName,
		"value":    demoSecretValue,
		"metadata": map[string]string{"connector": "demo"},
	}
	if err := iv.setupCall(ctx, "put-secret", "PUT /v1/merchants/{merchant_id}/secrets/{name}", path, params, "put_secret", merchant, claims, nil); err != nil {
		return "", err
	}
	return DemoSecretName, nil
}

// setupCall runs one request through the named function's own handler and
// decodes its JSON answer into out (if not nil).
func (iv *Invoker) setupCall(ctx context.Context, function, routeKey, path string, params map[string]string,
	op, merchant string, claims map[string]any, out any) error {
	fn, err := app.FunctionNamed(function)
	if err != nil {
		return err
	}
	method, _, _ := strings.Cut(routeKey, " ")
	ev := sampleEvent{
		APIGatewayV2HTTPRequest: events.APIGatewayV2HTTPRequest{
			Version:        "2.0",
			RouteKey:       routeKey,
			RawPath:        path,
			Headers:        map[string]string{"user-agent": "vault-invoke"},
			PathParameters: params,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				Stage: "$default",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method:    method,
					Path:      path,
					Protocol:  "HTTP/1.1",
					SourceIP:  "127.0.0.1",
					UserAgent: "vault-invoke",
				},
			},
		},
		Request: &requestTemplate{Op: op, MerchantID: merchant, Claims: claims},
	}
	freshen(&ev.APIGatewayV2HTTPRequest)
	resp, err := iv.call(ctx, fn, ev)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		return fmt.Errorf("%s answered %d: %s", function, resp.StatusCode, resp.Body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
		return fmt.Errorf("%s answered a body that is not JSON", function)
	}
	return nil
}
