Feature: Schedules
  As a user of swirl
  I want 1.0 workflows to start by themselves, by the clock or on events
  So that nobody has to start each instance

  # Schedules run under `swirl serve` only: these scenarios serve the
  # workflow on loopback and wait for its instances.
  #
  # `cron` has no scenario: its finest granularity is the minute (five
  # fields, minute to day of week), so its first instance could be a minute
  # away. Its reading is tested in the workflow crate and its ticks in
  # runtime/engine/src/schedule.rs.

  # `every` starts an instance at each multiple of its period
  Scenario: Schedule Every
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-every
      version: '1.0.0'
    schedule:
      every: PT1S
    do:
      - tick:
          set:
            ticked: true
    """
    When the workflow is served
    Then 2 instances of the workflow should complete with outputs:
    """yaml
    - ticked: true
    - ticked: true
    """

  # `after` starts one at once, then each one that long after the previous
  # one ended
  Scenario: Schedule After
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-after
      version: '1.0.0'
    schedule:
      after:
        milliseconds: 200
    do:
      - nap:
          wait:
            milliseconds: 100
      - wake:
          set:
            woke: true
    """
    When the workflow is served
    Then 2 instances of the workflow should complete with outputs:
    """yaml
    - woke: true
    - woke: true
    """

  # `on` with `one` starts an instance per matching event, whose input is
  # the array of that event's data; an event it does not name starts none
  Scenario: Schedule On One Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-on-one
      version: '1.0.0'
    schedule:
      on:
        one:
          with:
            type: com.example.hello
    do:
      - greet:
          set:
            hello: ${ .[0].name }
    """
    When the workflow is served
    And the event is published:
    """yaml
    specversion: '1.0'
    id: hello-1
    source: https://example.com/greeter
    type: com.example.hello
    data:
      name: Ada
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: bye-1
    source: https://example.com/greeter
    type: com.example.bye
    data:
      name: Bob
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: hello-2
    source: https://example.com/other
    type: com.example.hello
    data:
      name: Grace
    """
    Then 2 instances of the workflow should complete with outputs:
    """yaml
    - hello: Ada
    - hello: Grace
    """
    And the workflow should have 2 instances

  # `on` with `any` starts one per event that any of its filters matches;
  # `read: envelope` gives the events' attributes with their data
  Scenario: Schedule On Any Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-on-any
      version: '1.0.0'
    schedule:
      on:
        any:
          - with:
              type: com.example.audit
              source: https://example.com/a
          - with:
              type: com.example.check
      read: envelope
    do:
      - audit:
          set:
            type: ${ .[0].type }
            from: ${ .[0].source }
            what: ${ .[0].data.what }
    """
    When the workflow is served
    And the event is published:
    """yaml
    specversion: '1.0'
    id: audit-1
    source: https://example.com/a
    type: com.example.audit
    data:
      what: books
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: audit-2
    source: https://example.com/b
    type: com.example.audit
    data:
      what: not from a
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: check-1
    source: https://example.com/b
    type: com.example.check
    data:
      what: cash
    """
    Then 2 instances of the workflow should complete with outputs:
    """yaml
    - type: com.example.audit
      from: https://example.com/a
      what: books
    - type: com.example.check
      from: https://example.com/b
      what: cash
    """
    And the workflow should have 2 instances

  # `on` with `all` starts an instance once each filter has matched an event
  # of its own, in any order and across a restart; its input is the events
  # in the order of the filters
  Scenario: Schedule On All Events
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-on-all
      version: '1.0.0'
    schedule:
      on:
        all:
          - with:
              type: com.example.placed
              source: https://example.com/shop
          - with:
              type: com.example.paid
    do:
      - ship:
          set:
            first: ${ .[0].step }
            second: ${ .[1].step }
    """
    When the workflow is served
    And the event is published:
    """yaml
    specversion: '1.0'
    id: paid-7
    source: https://example.com/bank
    type: com.example.paid
    data:
      step: paid
    """
    Then the workflow should have 0 instances
    When the server is killed and started again
    And the event is published:
    """yaml
    specversion: '1.0'
    id: placed-7
    source: https://example.com/shop
    type: com.example.placed
    data:
      step: placed
    """
    Then 1 instance of the workflow should complete with outputs:
    """yaml
    - first: placed
      second: paid
    """
    And the workflow should have 1 instance

  # Correlated: a set is events that agree on the order, whichever order
  # they come in; order a's payment comes last, after order b's set started
  Scenario: Schedule On All Events Of One Order
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schedule-on-all-orders
      version: '1.0.0'
    schedule:
      on:
        all:
          - with:
              type: com.example.placed
            correlate:
              order:
                from: .data.order
          - with:
              type: com.example.paid
            correlate:
              order:
                from: .data.order
    do:
      - ship:
          set:
            order: ${ .[0].order }
            amount: ${ .[1].amount }
    """
    When the workflow is served
    And the event is published:
    """yaml
    specversion: '1.0'
    id: placed-a
    source: https://example.com/shop
    type: com.example.placed
    data:
      order: a
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: placed-b
    source: https://example.com/shop
    type: com.example.placed
    data:
      order: b
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: paid-b
    source: https://example.com/bank
    type: com.example.paid
    data:
      order: b
      amount: 20
    """
    Then 1 instance of the workflow should complete with outputs:
    """yaml
    - order: b
      amount: 20
    """
    When the event is published:
    """yaml
    specversion: '1.0'
    id: paid-a
    source: https://example.com/bank
    type: com.example.paid
    data:
      order: a
      amount: 10
    """
    Then 2 instances of the workflow should complete with outputs:
    """yaml
    - order: b
      amount: 20
    - order: a
      amount: 10
    """
