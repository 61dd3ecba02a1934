"""Campaigns, cycles and decisions arrive with the review-campaigns issue."""
