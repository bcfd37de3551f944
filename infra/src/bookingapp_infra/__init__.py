"""Deploy bookingapp to ECS Fargate."""
