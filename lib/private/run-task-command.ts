import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';

/**
 * `aws ecs run-task` for the latest revision of `family`, on the scheduled task's network, in
 * task group `group` (`taskGroup()`: letters, digits, `_.:-` only, so it needs no quoting),
 * which the failure alerts watch: a task started without it alerts nobody.
 */
export function runTaskCommand(
  cluster: ecs.ICluster,
  family: string,
  group: string,
  subnets: ec2.SelectedSubnets,
  securityGroup: ec2.ISecurityGroup,
): string {
  return (
    `aws ecs run-task --cluster ${cluster.clusterName} --task-definition ${family} --group ${group} --launch-type FARGATE ` +
    `--network-configuration "awsvpcConfiguration={subnets=[${subnets.subnetIds.join(',')}],securityGroups=[${securityGroup.securityGroupId}],assignPublicIp=DISABLED}"`
  );
}
