# Root: composes the modules. Names other parts of the project rely on
# (buckets' prefixes, model name, health route, ports) are fixed here or in
# the modules and asserted by tests/infra/test_terraform.py.

data "aws_caller_identity" "current" {}

locals {
  partition        = data.aws_partition.current.partition
  environment_name = "${var.project}-prod"
  # The state bucket is made by hand at bootstrap (infra/README.md); its
  # default name follows the README's convention.
  state_bucket = coalesce(var.terraform_state_bucket, "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}")
}

module "storage" {
  source = "./modules/storage"

  project                            = var.project
  partition                          = local.partition
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy_buckets
}

module "network" {
  source = "./modules/network"

  project     = var.project
  vpc_cidr    = var.vpc_cidr
  kms_key_arn = module.storage.kms_key_arn
}

module "mlflow" {
  source = "./modules/mlflow"

  project             = var.project
  partition           = local.partition
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  allowed_cidrs       = var.mlflow_allowed_cidrs
  artifact_bucket     = module.storage.mlflow_bucket
  artifact_bucket_arn = module.storage.mlflow_bucket_arn
  kms_key_arn         = module.storage.kms_key_arn
  mlflow_version      = var.mlflow_version
  instance_type       = var.mlflow_instance_type
  db_instance_class   = var.db_instance_class
  db_multi_az         = var.db_multi_az
  deletion_protection = var.deletion_protection

  # The API instances reach the database port for the feedback database only.
  feedback_client_security_group_ids = [module.serving.instance_security_group_id]
}

module "serving" {
  source = "./modules/serving"

  project            = var.project
  partition          = local.partition
  environment_name   = local.environment_name
  vpc_id             = module.network.vpc_id
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  kms_key_arn        = module.storage.kms_key_arn
  instance_type      = var.eb_instance_type
  min_instances      = var.eb_min_instances
  max_instances      = var.eb_max_instances
  deployment_policy  = var.eb_deployment_policy
  certificate_arn    = var.eb_certificate_arn
  require_https      = var.deployment_profile == "production"
  access_log_bucket  = module.storage.access_log_bucket
  access_log_prefix  = module.storage.alb_log_prefix
  waf_rate_limit     = var.waf_rate_limit
  maintenance_window = var.eb_maintenance_window

  feedback_db_secret_arn        = module.mlflow.feedback_db_secret_arn
  feedback_db_security_group_id = module.mlflow.db_security_group_id
}

module "ci_access" {
  source = "./modules/ci_access"

  project                = var.project
  partition              = local.partition
  github_repository      = var.github_repository
  deploy_branch          = var.github_deploy_branch
  production_environment = var.github_production_environment
  sweep_environment      = var.github_sweep_environment
  plan_environment       = var.github_plan_environment
  create_oidc_provider   = var.create_github_oidc_provider
  ecr_repository_arn     = module.serving.ecr_repository_arn
  eb_application_name    = module.serving.application_name
  eb_environment_name    = local.environment_name
  eb_versions_bucket_arn = module.storage.eb_versions_bucket_arn
  eb_pass_role_arns      = module.serving.role_arns
  dvc_bucket_arn         = module.storage.dvc_bucket_arn
  mlflow_bucket_arn      = module.storage.mlflow_bucket_arn
  kms_key_arn            = module.storage.kms_key_arn
  mlflow_instance_arn    = module.mlflow.instance_arn
  mlflow_ci_secret_arn   = module.mlflow.ci_secret_arn
  state_bucket           = local.state_bucket
  state_key              = var.terraform_state_key
}
