Feature: Timeouts
  As a user of swirl
  I want tasks and workflows that take too long to stop with a timeout error
  So that a stuck step never holds an instance forever

  # Past its timeout a task faults with the standard timeout error, located
  # at the task
  Scenario: A Task Times Out
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: task-timeout
      version: '1.0.0'
    do:
      - slowWait:
          wait:
            seconds: 30
          timeout:
            after:
              milliseconds: 200
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/timeout
    status: 408
    instance: /do/0/slowWait
    """

  # A try catches a timeout like any error; a timeout named in use.timeouts
  # is the same as one written inline
  Scenario: A Try Catches A Timeout By Its Name
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: caught-timeout
      version: '1.0.0'
    use:
      timeouts:
        brief:
          after: PT0.2S
    do:
      - guarded:
          try:
            - slowWait:
                wait: PT30S
                timeout: brief
          catch:
            errors:
              with:
                type: https://serverlessworkflow.io/spec/1.0.0/errors/timeout
            as: failure
            do:
              - report:
                  set:
                    timedOut: ${ $failure.status }
                    where: ${ $failure.instance }
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    timedOut: 408
    where: /do/0/guarded/try/0/slowWait
    """

  # The function call runs only as long as its task's timeout allows: a
  # function that never returns is stopped at the task's timeout, not at its
  # own (5 s), and the error says which timeout it was
  Scenario: A Timeout Stops A Function Call
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: call-timeout
      version: '1.0.0'
    do:
      - bounded:
          do:
            - spin:
                call: probe
                with:
                  action: spin
          timeout:
            after:
              milliseconds: 300
    """
    And the app has the test function 'probe'
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/timeout
    status: 408
    instance: /do/0/bounded
    detail: task 'bounded' timed out after PT0.300S
    """

  # The workflow's timeout covers every task: it faults the instance
  Scenario: A Workflow Times Out
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: workflow-timeout
      version: '1.0.0'
    timeout:
      after:
        milliseconds: 300
    do:
      - first:
          set:
            started: true
      - slowWait:
          wait:
            seconds: 30
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/timeout
    status: 408
    instance: /
    """

  # A task that ends in time takes its timeout with it: the next, longer
  # task is not cut short by it
  Scenario: A Finished Task's Timeout Does Not Fire
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: timeout-cleared
      version: '1.0.0'
    do:
      - quick:
          wait:
            milliseconds: 50
          timeout:
            after:
              milliseconds: 200
      - longer:
          wait:
            milliseconds: 500
      - done:
          set:
            value: ${ .value + 1 }
    """
    And given the workflow input is:
    """yaml
    value: 1
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    value: 2
    """

  # A wait's duration may be computed from the task's input, once, as the
  # task starts: ISO 8601 text or an object of units, as written ones are.
  # The computed wait of 30 s is cut short by a written timeout; the one of
  # 50 ms ends in time
  Scenario: A Wait Computed By An Expression
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: computed-wait
      version: '1.0.0'
    do:
      - short:
          wait: ${ .short }
          timeout:
            after: PT5S
      - long:
          try:
            - slowWait:
                input:
                  from: '${ {pause: .long} }'
                wait: ${ .pause }
                timeout:
                  after:
                    milliseconds: 200
          catch:
            as: failure
            do:
              - report:
                  set:
                    where: ${ $failure.instance }
                    detail: ${ $failure.detail }
    """
    And given the workflow input is:
    """yaml
    short:
      milliseconds: 50
    long: PT30S
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    where: /do/1/long/try/0/slowWait
    detail: task 'slowWait' timed out after PT0.200S
    """

  # A task's timeout may be computed as the task starts, from its input
  # (named in use.timeouts too); its error gives the length it came to
  Scenario: A Timeout Computed By An Expression
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: computed-timeout
      version: '1.0.0'
    use:
      timeouts:
        patience:
          after: ${ "PT" + (.patience | tostring) + "S" }
    do:
      - slowWait:
          wait: PT30S
          timeout: patience
    """
    And given the workflow input is:
    """yaml
    patience: 0.25
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/timeout
    status: 408
    instance: /do/0/slowWait
    detail: task 'slowWait' timed out after PT0.250S
    """

  # A computed duration that is none is an expression error of the task,
  # which a try catches like any other
  Scenario: A Computed Duration That Is None Is Caught
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: computed-duration-wrong
      version: '1.0.0'
    do:
      - guarded:
          try:
            - pause:
                wait: ${ .pause }
          catch:
            errors:
              with:
                type: https://serverlessworkflow.io/spec/1.0.0/errors/expression
            as: failure
            do:
              - report:
                  set:
                    status: ${ $failure.status }
                    where: ${ $failure.instance }
                    detail: ${ $failure.detail }
    """
    And given the workflow input is:
    """yaml
    pause: soon
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    status: 400
    where: /do/0/guarded/try/0/pause
    detail: "evaluating '.pause' failed: its result \"soon\" is not a duration: 'soon' is not an ISO 8601 duration; write it like 'PT15M' or 'P2DT3H4M'"
    """

  # The workflow's timeout may be computed too, once, as the instance
  # starts: on the workflow's transformed input (after input.from), as a
  # task's definition is on its own. It fires like a written one, giving the
  # length it came to
  Scenario: A Workflow Timeout Computed From The Input
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: computed-workflow-timeout
      version: '1.0.0'
    input:
      from: '${ {limit: .limits.workflow} }'
    timeout:
      after: ${ .limit }
    do:
      - first:
          set:
            started: true
      - slowWait:
          wait:
            seconds: 30
    """
    And given the workflow input is:
    """yaml
    limits:
      workflow: PT0.2S
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/timeout
    status: 408
    instance: /
    detail: the workflow timed out after PT0.200S
    """

  # A workflow timeout computed to no duration faults the instance as it
  # starts, before its first task, with an expression error of the workflow
  Scenario: A Workflow Timeout Computed To No Duration
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: computed-workflow-timeout-wrong
      version: '1.0.0'
    use:
      timeouts:
        patience:
          after: ${ .patience }
    timeout: patience
    do:
      - never:
          set:
            ran: true
    """
    And given the workflow input is:
    """yaml
    patience: soon
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /
    detail: "the workflow's timeout: evaluating '.patience' failed: its result \"soon\" is not a duration: 'soon' is not an ISO 8601 duration; write it like 'PT15M' or 'P2DT3H4M'"
    """
