Feature: Emitting and listening
  As a user of swirl
  I want 1.0 workflows to wait for CloudEvents and to produce them
  So that instances react to events, including each other's

  # The emitted event reaches the listening branch of the same instance
  # (kept until the listen subscribes, if it comes first); a listen's output
  # is the array of the events' data
  Scenario: Listen To One Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-one
      version: '1.0.0'
    do:
      - pingPong:
          fork:
            branches:
              - waitForPing:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.ping
                          source: https://example.com/pinger
              - sendPing:
                  emit:
                    event:
                      with:
                        source: https://example.com/pinger
                        type: com.example.ping
                        data:
                          hello: ${ .name }
          output:
            as: .[0]
    """
    And given the workflow input is:
    """yaml
    name: world
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    - hello: world
    """

  # `all` waits for every filter's event and outputs them in filter order
  Scenario: Listen To All Events
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-all
      version: '1.0.0'
    do:
      - gather:
          fork:
            branches:
              - waitForBoth:
                  listen:
                    to:
                      all:
                        - with:
                            type: com.example.first
                            source: https://example.com/a
                        - with:
                            type: com.example.second
                            source: https://example.com/b
              - sendSecond:
                  emit:
                    event:
                      with:
                        source: https://example.com/b
                        type: com.example.second
                        data: 2
              - sendFirst:
                  emit:
                    event:
                      with:
                        source: https://example.com/a
                        type: com.example.first
                        data: 1
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ 1, 2 ]
    """

  # An event emitted by one instance reaches another that listens for it:
  # the parent listens, correlated to its own order, while its child,
  # another instance of another workflow, emits
  Scenario: Emit To A Listen Of Another Instance
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: order-desk
      version: '1.0.0'
    do:
      - handOff:
          fork:
            branches:
              - awaitPacking:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.packed
                          source: https://example.com/warehouse
                        correlate:
                          order:
                            from: .data.order
                            expect: ${ $workflow.input.order }
              - pack:
                  run:
                    workflow:
                      namespace: default
                      name: warehouse
                      version: '1.0.0'
                      input:
                        order: ${ .order }
          output:
            as: .[0][0]
    """
    And another workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: warehouse
      version: '1.0.0'
    do:
      - packThis:
          emit:
            event:
              with:
                source: https://example.com/warehouse
                type: com.example.packed
                data:
                  order: ${ .order }
                  boxes: 2
    """
    And given the workflow input is:
    """yaml
    order: o-7
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    order: o-7
    boxes: 2
    """

  # A correlated listen turns down an event of another order and takes the
  # next one, of its own, both emitted by another instance. (The child's
  # second emit reads the order from $workflow.input: an emit's output is
  # the CloudEvent it emitted, so `.order` after the first emit is null.)
  Scenario: A Correlated Listen Turns Down Another Order's Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: order-desk
      version: '1.0.0'
    do:
      - handOff:
          fork:
            branches:
              - awaitPacking:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.packed
                          source: https://example.com/warehouse
                        correlate:
                          order:
                            from: .data.order
                            expect: ${ .order }
              - pack:
                  run:
                    workflow:
                      namespace: default
                      name: warehouse
                      version: '1.0.0'
                      input:
                        order: ${ .order }
          output:
            as: .[0][0]
    """
    And another workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: warehouse
      version: '1.0.0'
    do:
      - packAnother:
          emit:
            event:
              with:
                source: https://example.com/warehouse
                type: com.example.packed
                data:
                  order: o-8
                  boxes: 5
      - packThis:
          emit:
            event:
              with:
                source: https://example.com/warehouse
                type: com.example.packed
                data:
                  order: ${ $workflow.input.order }
                  boxes: 2
    """
    And given the workflow input is:
    """yaml
    order: o-7
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    order: o-7
    boxes: 2
    """
