# The load balancer: HTTPS for the API and the docs of the API; plain HTTP only for
# /pki/ (CRLs, OCSP, CA certificates are signed objects that relying parties fetch over
# http:// by convention, RFC 5280 4.2.1.13 and RFC 6960 appendix A), everything else on
# port 80 is redirected to HTTPS. Targets are routed on /readyz (database reachable,
# migrations applied), not merely /healthz.

resource "aws_security_group" "load_balancer" {
  name        = "${var.name}-alb"
  description = "Load balancer of ${var.name}: HTTP(S) in from the allowed ranges, to the tasks out"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "load_balancer" {
  for_each = { for pair in setproduct(var.ingress_cidr_blocks, [80, 443]) : "${pair[1]}-${pair[0]}" => pair }

  security_group_id = aws_security_group.load_balancer.id
  cidr_ipv4         = each.value[0]
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  description       = "Port ${each.value[1]} from ${each.value[0]}"
}

resource "aws_vpc_security_group_egress_rule" "load_balancer_to_service" {
  security_group_id            = aws_security_group.load_balancer.id
  referenced_security_group_id = aws_security_group.service.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  description                  = "To the Certa tasks"
}

resource "aws_security_group" "service" {
  name        = "${var.name}-service"
  description = "Certa tasks of ${var.name}: from the load balancer in; database, AWS APIs, webhooks out"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-service" })
}

resource "aws_vpc_security_group_ingress_rule" "service_from_load_balancer" {
  security_group_id            = aws_security_group.service.id
  referenced_security_group_id = aws_security_group.load_balancer.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  description                  = "From the load balancer"
}

# Outbound is open: the database, ECR, Secrets Manager, KMS and CloudWatch, and the
# notification receivers (Discord, Slack, Teams, webhooks, SMTP) and TLS endpoints that
# verifyEndpoint checks. CERTA_VERIFY_DENY keeps the latter away from metadata addresses.
resource "aws_vpc_security_group_egress_rule" "service_all" {
  security_group_id = aws_security_group.service.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  description       = "Outbound"
}

resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = var.load_balancer_internal
  subnets                    = var.load_balancer_subnet_ids
  security_groups            = [aws_security_group.load_balancer.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.load_balancer_deletion_protection
  idle_timeout               = 60

  access_logs {
    enabled = true
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = "alb"
  }

  tags = var.tags

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "this" {
  name                 = var.name
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = local.container_port
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "pki_over_http" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  condition {
    path_pattern {
      values = ["/pki/*"]
    }
  }

  tags = var.tags
}

# /metrics answers without a token (it is meant for a scraper, not for the world):
# the load balancer never forwards it. Prometheus scrapes the tasks directly inside the
# VPC (ECS service discovery), from the security groups in metrics_scraper_security_group_ids.
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "service_from_scrapers" {
  for_each = var.metrics_scraper_security_group_ids

  security_group_id            = aws_security_group.service.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  description                  = "Prometheus scrape of /metrics from ${each.key}"
}
