"""Televisit: self-hosted telemedicine video visits."""
