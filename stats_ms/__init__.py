"""The statistics service: folds the event stream into DynamoDB and serves each page's figures.

It shares only `events.contracts` with the core and never imports Django.
"""
