Feature: Retrying a try
  As a user of swirl
  I want a try's tasks retried when a caught error allows it
  So that transient failures heal without a fault

  # The counter lives in the function's kv store, so it survives the retries;
  # the raise fails the first two attempts, the third completes
  Scenario: Retry Until The Tasks Succeed
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: retry-until-success
      version: '1.0.0'
    do:
      - attempt:
          try:
            - count:
                call: probe
                with:
                  action: kv-increment
                  key: ${ .key }
            - checkCount:
                if: ${ . < 3 }
                raise:
                  error:
                    type: https://example.com/errors/not-yet
                    status: 503
                    title: not yet
          catch:
            errors:
              with:
                status: 503
            retry:
              delay:
                milliseconds: 10
              backoff:
                exponential: {}
              limit:
                attempt:
                  count: 5
    """
    And the app has the test function 'probe'
    And given the workflow input is:
    """yaml
    key: retry-until-success
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    3
    """

  # When the attempts are spent and the catch has no tasks, the error goes up
  Scenario: Retries Spent Fault The Workflow
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: retry-spent
      version: '1.0.0'
    do:
      - attempt:
          try:
            - failAlways:
                raise:
                  error:
                    type: https://example.com/errors/down
                    status: 503
                    title: down
          catch:
            errors:
              with:
                type: https://example.com/errors/down
            retry:
              delay: PT0.01S
              limit:
                attempt:
                  count: 2
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://example.com/errors/down
    status: 503
    instance: /do/0/attempt/try/0/failAlways
    """
    And failAlways should run after attempt

  # With tasks in the catch, they take the error once retries are spent
  Scenario: Caught Error Handled By The Catch Tasks
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: catch-tasks
      version: '1.0.0'
    do:
      - attempt:
          try:
            - failAlways:
                raise:
                  error:
                    type: https://example.com/errors/down
                    status: 503
                    title: down
          catch:
            as: failure
            when: ${ $failure.status == 503 }
            do:
              - fallback:
                  set:
                    fallback: true
                    reason: ${ $failure.title }
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    fallback: true
    reason: down
    """

  # A retry's delay and limit may be computed at each failure, as its `when`
  # is: the error is their input and `$input` the try's input. The third
  # attempt completes
  Scenario: Retry Delay Computed By An Expression
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: retry-computed-delay
      version: '1.0.0'
    do:
      - attempt:
          try:
            - count:
                call: probe
                with:
                  action: kv-increment
                  key: ${ .key }
            - checkCount:
                if: ${ . < 3 }
                raise:
                  error:
                    type: https://example.com/errors/not-yet
                    status: 503
                    title: not yet
          catch:
            as: failure
            retry:
              delay: '${ {milliseconds: ($failure.status / 50 | floor)} }'
              backoff:
                linear: {}
              limit:
                duration: ${ $input.within }
    """
    And the app has the test function 'probe'
    And given the workflow input is:
    """yaml
    key: retry-computed-delay
    within: PT10S
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    3
    """
