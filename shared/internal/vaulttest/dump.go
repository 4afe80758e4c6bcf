package vaulttest

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func dumpItem(item map[string]types.AttributeValue) string {
	names := make([]string, 0, len(item))
	for k := range item {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s;", k, dumpValue(item[k]))
	}
	return b.String()
}

func dumpValue(v types.AttributeValue) string {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + x.Value
	case *types.AttributeValueMemberN:
		return "N:" + x.Value
	case *types.AttributeValueMemberB:
		// Binary values are dumped raw as well as base64, so a search for
		// plaintext finds it in either form.
		return "B:" + base64.StdEncoding.EncodeToString(x.Value) + "|" + string(x.Value)
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprintf("BOOL:%v", x.Value)
	case *types.AttributeValueMemberM:
		return "M:{" + dumpItem(x.Value) + "}"
	case *types.AttributeValueMemberL:
		parts := make([]string, len(x.Value))
		for i, e := range x.Value {
			parts[i] = dumpValue(e)
		}
		return "L:[" + strings.Join(parts, ",") + "]"
	case *types.AttributeValueMemberSS:
		return "SS:" + strings.Join(x.Value, ",")
	case *types.AttributeValueMemberNULL:
		return "NULL"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func sortStrings(s []string) { sort.Strings(s) }
