package deploy

import (
	"fmt"
	"strings"
)

// Stack names where a stack's resources would live: the pseudo
// parameters CloudFormation gives a template.
type Stack struct {
	Name      string
	Region    string
	Account   string
	Partition string
}

// SyntheticStandIns gives every resource of t the name and ARN it would
// have in the stack (shaped as CloudFormation returns them for Ref and
// Fn::GetAtt ... Arn), every parameter its default and every pseudo
// parameter its stack value. Callers replace the stand-ins of the
// resources they back with something real (an emulator's table, a
// local-kms key).
func SyntheticStandIns(t *Template, st Stack) StandIns {
	if st.Partition == "" {
		st.Partition = "aws"
	}
	var s StandIns
	s.Ref("AWS::Region", st.Region)
	s.Ref("AWS::AccountId", st.Account)
	s.Ref("AWS::Partition", st.Partition)
	s.Ref("AWS::StackName", st.Name)
	s.Ref("AWS::URLSuffix", "amazonaws.com")
	s.WithParameterDefaults(t)
	arn := func(service, rest string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", st.Partition, service, st.Region, st.Account, rest)
	}
	for id, r := range t.Resources {
		name := st.Name + "-" + id
		switch r.Type {
		case TypeTable:
			s.Ref(id, name)
			s.Attr(id, "Arn", arn("dynamodb", "table/"+name))
		case TypeKMSKey:
			keyID := strings.ToLower(id)
			s.Ref(id, keyID)
			s.Attr(id, "Arn", arn("kms", "key/"+keyID))
		case "AWS::SecretsManager::Secret":
			s.Ref(id, arn("secretsmanager", "secret:"+name+"-AbCdEf"))
		case "AWS::Events::EventBus":
			if n, ok := r.Properties["Name"]; ok {
				if resolved, err := s.ResolveString(n); err == nil {
					name = resolved
				}
			}
			s.Ref(id, name)
			s.Attr(id, "Arn", arn("events", "event-bus/"+name))
		case "AWS::SQS::Queue":
			// Ref is the queue's URL; QueueName is what CloudWatch's
			// queue metrics take as their dimension.
			s.Ref(id, fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", st.Region, st.Account, name))
			s.Attr(id, "Arn", arn("sqs", name))
			s.Attr(id, "QueueName", name)
		case "AWS::Logs::LogGroup":
			s.Ref(id, "/aws/lambda/"+name)
			s.Attr(id, "Arn", arn("logs", "log-group:/aws/lambda/"+name+":*"))
		case TypeRole:
			s.Ref(id, name)
			s.Attr(id, "Arn", fmt.Sprintf("arn:%s:iam::%s:role/%s", st.Partition, st.Account, name))
		case TypeFunction:
			s.Ref(id, name)
			s.Attr(id, "Arn", arn("lambda", "function:"+name))
		default:
			s.Ref(id, name)
			s.Attr(id, "Arn", arn(strings.ToLower(strings.Split(r.Type, "::")[1]), name))
		}
	}
	return s
}
