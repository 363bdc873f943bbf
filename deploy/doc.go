// Package deploy holds filegate's AWS deployment (template.yaml, a SAM
// template) and the tests that check it: cfn-lint on the template, and
// the CloudFront function it carries run under Node with CloudFront's
// event shapes.
package deploy
