# Root: composes the modules. Names other parts of the project rely on
# (buckets' prefixes, model name, health route, ports) are fixed here or in
# the modules and asserted by tests/infra/test_terraform.py.

locals {
  partition        = data.aws_partition.current.partition
  environment_name = "${var.project}-prod"
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
  public_subnet_id    = module.network.public_subnet_ids[0]
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
}

module "serving" {
  source = "./modules/serving"

  project                  = var.project
  partition                = local.partition
  environment_name         = local.environment_name
  vpc_id                   = module.network.vpc_id
  public_subnet_ids        = module.network.public_subnet_ids
  private_subnet_ids       = module.network.private_subnet_ids
  extra_security_group_ids = [module.mlflow.client_security_group_id]
  kms_key_arn              = module.storage.kms_key_arn
  artifact_bucket_arn      = module.storage.mlflow_bucket_arn
  model_uri                = var.app_model_uri
  # In-VPC address: the API reaches MLflow through the client security group.
  mlflow_tracking_uri = module.mlflow.private_tracking_uri
  instance_type       = var.eb_instance_type
  min_instances       = var.eb_min_instances
  max_instances       = var.eb_max_instances
  deployment_policy   = var.eb_deployment_policy
  certificate_arn     = var.eb_certificate_arn
}

module "ci_access" {
  source = "./modules/ci_access"

  project                = var.project
  partition              = local.partition
  github_repository      = var.github_repository
  deploy_branch          = var.github_deploy_branch
  github_environments    = var.github_environments
  create_oidc_provider   = var.create_github_oidc_provider
  ecr_repository_arn     = module.serving.ecr_repository_arn
  eb_application_name    = module.serving.application_name
  eb_environment_name    = local.environment_name
  eb_versions_bucket_arn = module.storage.eb_versions_bucket_arn
  eb_pass_role_arns      = module.serving.role_arns
  dvc_bucket_arn         = module.storage.dvc_bucket_arn
  mlflow_bucket_arn      = module.storage.mlflow_bucket_arn
  kms_key_arn            = module.storage.kms_key_arn
}
