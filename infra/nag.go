package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// addNagChecks runs cdk-nag's AwsSolutions rules on the stack at synthesis. A
// finding nobody acknowledged is an error annotation, which fails `cdk deploy`.
func addNagChecks(stack awscdk.Stack) {
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// acknowledge records, next to the construct that causes it, why a cdk-nag
// finding is accepted. appliesTo narrows it to the named findings' details.
func acknowledge(c constructs.IConstruct, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		list := make([]any, len(appliesTo))
		for i, a := range appliesTo {
			list[i] = a
		}
		s.AppliesTo = &list
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// acknowledgeNotificationsHandler acknowledges findings on the Lambda function that
// aws-cdk-lib itself adds to configure S3 bucket notifications during deployment.
func acknowledgeNotificationsHandler(stack awscdk.Stack) {
	for _, child := range *stack.Node().Children() {
		if strings.HasPrefix(*child.Node().Id(), "BucketNotificationsHandler") {
			acknowledge(child, "AwsSolutions-IAM4",
				"aws-cdk-lib's BucketNotificationsHandler runs only while CloudFormation deploys, to call "+
					"PutBucketNotificationConfiguration; AWSLambdaBasicExecutionRole adds only CloudWatch Logs writes "+
					"(CreateLogGroup, CreateLogStream, PutLogEvents); a role of our own would need the same, hand-written.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		}
	}
}
