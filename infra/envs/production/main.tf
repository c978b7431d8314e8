# Production: three AZs, one NAT gateway per AZ, a two-instance Aurora cluster, at least
# three Certa tasks. Deletion protection everywhere.

locals {
  name = "certa-production"
  host = regex("^https?://([^/:]+)", var.public_url)[0]
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr_block
  az_count           = 3
  single_nat_gateway = false
}

module "database" {
  source = "../../modules/database"

  name       = local.name
  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.private_subnet_ids

  allowed_security_group_ids = merge(
    { service = module.service.security_group_id },
    var.enable_bastion ? { bastion = module.bastion[0].security_group_id } : {},
  )
  logs_kms_key_arn = module.network.logs_kms_key_arn

  instance_count        = 2
  min_capacity          = 1
  max_capacity          = 16
  backup_retention_days = 35
  deletion_protection   = true
  skip_final_snapshot   = false
}

module "service" {
  source = "../../modules/service"

  name                     = local.name
  vpc_id                   = module.network.vpc_id
  private_subnet_ids       = module.network.private_subnet_ids
  load_balancer_subnet_ids = var.load_balancer_internal ? module.network.private_subnet_ids : module.network.public_subnet_ids
  load_balancer_internal   = var.load_balancer_internal
  ingress_cidr_blocks      = var.ingress_cidr_blocks
  certificate_arn          = var.certificate_arn

  image       = var.image
  cpu         = 1024
  memory      = 2048
  public_url  = var.public_url
  admin_email = var.admin_email

  # 3 to 10 tasks x 10 connections: far below the connection limit Aurora derives from max_capacity.
  desired_count = 3
  min_count     = 3
  max_count     = 10
  db_pool_size  = 10

  database_host       = module.database.endpoint
  database_port       = module.database.port
  database_name       = module.database.database_name
  database_secret_arn = module.database.master_user_secret_arn
  secret_kms_key_arns = [module.database.kms_key_arn]

  alarm_topic_arn  = var.alarm_topic_arn
  logs_kms_key_arn = module.network.logs_kms_key_arn
}

# Port forwarding to Aurora through SSM Session Manager (no SSH, no public address);
# see docs/operations/deployment.md. enable_bastion turns it on and off.
module "bastion" {
  source = "../../modules/bastion"
  count  = var.enable_bastion ? 1 : 0

  name                       = local.name
  vpc_id                     = module.network.vpc_id
  subnet_id                  = module.network.private_subnet_ids[0]
  database_security_group_id = module.database.security_group_id
  database_port              = module.database.port
}

resource "aws_route53_record" "public" {
  count = var.route53_zone_id == null ? 0 : 1

  zone_id = var.route53_zone_id
  name    = local.host
  type    = "A"

  alias {
    name                   = module.service.load_balancer_dns_name
    zone_id                = module.service.load_balancer_zone_id
    evaluate_target_health = true
  }
}
